//! What every form endpoint shares: the lambda_http glue ([`web`]), field rules
//! ([`fields`]) and the checks before a submission is accepted ([`guard`]). The answer a
//! form function gives, a page in the site's theme or not, is `site::reply`.

pub mod fields;
pub mod guard;
pub mod web;
