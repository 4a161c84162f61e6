//! The supporter mail sender.
pub mod handler;
