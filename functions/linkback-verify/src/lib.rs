//! The linkback verifier.
pub mod handler;
