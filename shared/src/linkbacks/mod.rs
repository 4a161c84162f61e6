//! Linkbacks: pingbacks (Pingback 1.0, XML-RPC) and Webmentions (W3C) that other sites send
//! when they link to one of our posts.
//!
//! - [`xmlrpc`]: the `pingback.ping` call read from an XML-RPC body, and the answers.
//! - [`address`]: which addresses a stranger's URL may make us connect to (the SSRF guard).
//! - [`fetch`]: fetching a source page within that guard.
//! - [`source`]: what a source page shows: the link to us, its title, author, date, excerpt.

pub mod address;
pub mod fetch;
pub mod source;
pub mod xmlrpc;
