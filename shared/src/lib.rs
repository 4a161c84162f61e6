//! The common crate: domain types, pure functions (parsing, rendering, spam rules),
//! ports (traits for everything that touches the outside world) and their adapters.
//!
//! Domain modules know no AWS type; only `adapters::aws` does.

pub mod adapters;
pub mod build;
pub mod comments;
pub mod config;
pub mod content;
pub mod env;
pub mod forms;
pub mod guard;
pub mod layout;
pub mod mail;
pub mod markdown;
pub mod moderation;
pub mod photos;
pub mod ports;
pub mod records;
pub mod render;
pub mod spam;
pub mod supporters;
pub mod telemetry;
pub mod web;
