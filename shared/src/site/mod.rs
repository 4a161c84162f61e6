//! The static site: what the content bucket holds, how it becomes pages, and the builder
//! that writes them (fully or for one change).

pub mod build;
pub mod config;
pub mod content;
pub mod layout;
pub mod pages;
pub mod photos;
pub mod redirects;
pub mod render;
pub mod reply;
