//! Every integration test, in one binary (one link of the SDK, fjall and image instead of
//! one per file), a module per area. Each drives the real entry points: the functions'
//! handlers with events shaped as AWS sends them (against moto), the binaries under the
//! Lambda Runtime API, the local server over HTTP, and the template against the code.

mod abuse;
mod captcha;
mod comments;
mod emulators;
mod faults;
mod import;
mod incremental;
mod infra;
mod lambda_runtime;
mod linkbacks;
mod local_site;
mod render_on_aws;
mod signup;
mod spam_filter;
mod trust;
