//! Confirmation tokens (random, stored only as a hash) and manage links (signed, so every
//! mail can carry one that keeps working).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::signing::SupporterKey;

use super::*;

/// A new confirmation token: 32 random bytes, base64url. Goes into the mail only.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What is stored instead of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub(crate) fn new_nonce() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

const MANAGE_LABEL: &str = "supporter-manage";

/// The signed manage / unsubscribe token of a supporter (see the module documentation).
pub fn manage_token(key: &SupporterKey, s: &Supporter) -> String {
    key.sign(
        MANAGE_LABEL,
        format!("{}|{}", s.email_hash, s.manage_nonce).as_bytes(),
    )
}

/// The address hash and nonce in a genuine manage token.
pub fn read_manage_token(key: &SupporterKey, token: &str) -> Option<(String, String)> {
    let payload = key.verify(MANAGE_LABEL, token.trim())?;
    let text = String::from_utf8(payload).ok()?;
    let (h, nonce) = text.split_once('|')?;
    Some((h.to_string(), nonce.to_string()))
}
