//! What every form endpoint shares: the lambda_http glue ([`web`]), field rules
//! ([`fields`]) and the checks before a submission is accepted ([`guard`]).

pub mod fields;
pub mod guard;
pub mod web;
