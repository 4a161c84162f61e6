//! `site keys`: the signing keys of a deployment, for its keys secret (docs/deploy.md,
//! "Secrets"). One key per purpose, each derived from a master key with HKDF, so a
//! function is given only the keys it uses and the master never leaves the operator.

use std::io::Read;

use rand::RngCore;
use shared::signing::Keys;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("the master key on standard input: {0}")]
    Master(String),
    #[error("{var}: {why}")]
    Legacy { var: String, why: String },
    #[error("{0}")]
    Keys(String),
}

pub struct Made {
    /// The JSON object for the keys secret: each purpose's variable to its key, hex.
    pub secret_json: String,
    /// The master key, when one was made here (the operator keeps it offline: it makes the
    /// same keys again).
    pub new_master: Option<String>,
}

/// `master_hex`: a master key given by the operator (`None`: make one). `legacy`: the name
/// of an environment variable holding the one `SIGNING_KEY` an older deployment used;
/// its identity and supporter keys stay that key, so stored address hashes and the manage
/// links in supporters' mailboxes keep working.
pub fn make(
    master_hex: Option<&str>,
    legacy: Option<(&str, Option<String>)>,
) -> Result<Made, KeysError> {
    let (master, new_master) = match master_hex {
        Some(h) => (
            hex::decode(h.trim()).map_err(|e| KeysError::Master(e.to_string()))?,
            None,
        ),
        None => {
            let mut m = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut m);
            (m.to_vec(), Some(hex::encode(m)))
        }
    };
    let keys = match legacy {
        None => Keys::from_master(&master).map_err(KeysError::Master)?,
        Some((var, value)) => {
            let legacy_err = |why: String| KeysError::Legacy {
                var: var.to_string(),
                why,
            };
            let value = value.ok_or_else(|| legacy_err("not set".into()))?;
            let old = hex::decode(value.trim()).map_err(|e| legacy_err(e.to_string()))?;
            Keys::upgraded(&old, &master).map_err(KeysError::Keys)?
        }
    };
    Ok(Made {
        secret_json: keys.to_secret_json(),
        new_master,
    })
}

/// Reads the master key from standard input (one line of hex).
pub fn read_master_from_stdin() -> Result<String, KeysError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| KeysError::Master(e.to_string()))?;
    Ok(s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::signing::Purpose;

    #[test]
    fn the_same_master_makes_the_same_keys_and_an_upgrade_keeps_the_old_hashes() {
        let master = "11".repeat(32);
        let a = make(Some(&master), None).unwrap();
        let b = make(Some(&master), None).unwrap();
        assert_eq!(a.secret_json, b.secret_json);
        assert!(a.new_master.is_none());
        let fresh = make(None, None).unwrap();
        assert_ne!(fresh.secret_json, a.secret_json);
        assert_eq!(fresh.new_master.as_ref().unwrap().len(), 64);

        let old = "22".repeat(32);
        let up = make(Some(&master), Some(("SIGNING_KEY", Some(old.clone())))).unwrap();
        let json: serde_json::Value = serde_json::from_str(&up.secret_json).unwrap();
        assert_eq!(json[Purpose::Identity.variable()], old.as_str());
        assert_eq!(json[Purpose::Supporters.variable()], old.as_str());
        let derived: serde_json::Value = serde_json::from_str(&a.secret_json).unwrap();
        assert_eq!(
            json[Purpose::Forms.variable()],
            derived[Purpose::Forms.variable()]
        );
        assert!(matches!(
            make(None, Some(("SIGNING_KEY", None))),
            Err(KeysError::Legacy { .. })
        ));
        assert!(matches!(make(Some("zz"), None), Err(KeysError::Master(_))));
    }
}
