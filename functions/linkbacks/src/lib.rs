//! The linkback receiver: Webmention and Pingback endpoints.
pub mod handler;
