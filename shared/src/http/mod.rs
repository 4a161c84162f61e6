//! What every form endpoint shares: the lambda_http glue ([`web`]), field rules
//! ([`fields`]), the checks before a submission is accepted ([`guard`]) and the browser
//! security headers every page carries ([`security_headers`]). The answer a
//! form function gives, a page in the site's theme or not, is `site::reply`.

pub mod fields;
pub mod guard;
pub mod security_headers;
pub mod web;
