//! The moderation function.
pub mod handler;
