//! The render function: content events in, static site out.
pub mod handler;
