//! The spam-verification function.
pub mod handler;
