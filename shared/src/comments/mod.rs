//! Comments and pingbacks: the record ([`model`]), what a submission must look like and the
//! moves a comment makes ([`submit`]), the spam rules ([`spam`]) and the signed moderation
//! links ([`moderation`]).

pub mod classifier;
pub mod evaluation;
pub mod filter;
pub mod model;
pub mod moderation;
pub mod spam;
pub mod submit;

pub use model::*;
pub use submit::*;
