//! The common crate. A map, with imports running downwards only:
//!
//! | module | what it holds |
//! |---|---|
//! | [`site`] | the static site: config, content (posts, quotes), photos, layout (keys in the buckets), the theme and renderer, the builder, and the pages the form functions serve |
//! | [`comments`] | the comment model, submission rules, spam rules, moderation links |
//! | [`supporters`] | sign-up: fields, the supporter record, tokens, mails, export, storage |
//! | [`http`] | what every form endpoint shares: lambda_http glue, field rules, the guard (honeypot, token, rate limit, captcha) |
//! | [`keys`] | every key in the single table, in one place (mirrors docs/architecture.md) |
//! | [`signing`], [`mail`], [`markdown`], [`dates`] | signatures and keyed hashes, the mail formatter, the two Markdown dialects, dates |
//! | [`ports`] | the traits for everything outside (blobs, records, mail, captcha, clock) |
//! | [`adapters`] | the ports implemented for AWS and for local runs, and the wiring that builds them |
//! | [`env`], [`telemetry`] | configuration read once at start-up, logging |
//!
//! `site` → `comments` → `http` → (`signing`, `keys`, `mail`, `markdown`, `dates`, `ports`);
//! `supporters` → `http` → …; `adapters` may use anything. Nothing outside `adapters`
//! knows an AWS type.

pub mod adapters;
pub mod comments;
pub mod dates;
pub mod env;
pub mod http;
pub mod keys;
pub mod linkbacks;
pub mod mail;
pub mod markdown;
pub mod ports;
pub mod signing;
pub mod site;
pub mod supporters;
pub mod telemetry;
pub mod wiring;
