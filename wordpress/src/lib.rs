//! Moving a WordPress site over: its export file read as a stream ([`wxr`]), and its post
//! bodies turned into the Markdown the site renders ([`body`]). Pure; `site import
//! wordpress` (in `cli/`) does the writing.

pub mod body;
pub mod wxr;
