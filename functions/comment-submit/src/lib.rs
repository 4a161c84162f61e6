//! The comment submission function.
pub mod handler;
