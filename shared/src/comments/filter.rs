//! The spam filter's memory: a classifier trained on real labelled comments, shipped with
//! the product (the prior), plus what this site's moderator taught it. Every approve, spam
//! and delete a moderator makes (mail link or `site comments`) is stored as one example in
//! the table, keyed by the comment, so concurrent verdicts never overwrite each other and a
//! changed mind replaces the earlier example. The verifier rebuilds the site's model from
//! the prior and the examples (the newest [`MAX_EXAMPLES`]), and keeps it for a minute.
//!
//! The prior is trained on part of the UCI YouTube Spam Collection (T. C. Alberto,
//! J. V. Lochter and T. A. Almeida, "TubeSpam: Comment Spam Filtering on YouTube", ICMLA
//! 2015; CC BY 4.0). Regenerate it with `site spam train FILE.csv… --out` this module's
//! `spam_prior.json`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::comments::classifier::Model;
use crate::comments::spam::classifier_text;
use crate::comments::Comment;
use crate::keys;
use crate::ports::{Condition, ItemStore, StoreError};

/// The model shipped with the product, trained on the shared corpus.
const PRIOR_JSON: &str = include_str!("spam_prior.json");

/// Each moderator verdict counts as this many corpus examples: this site's spam is what
/// matters, and a few dozen verdicts must be able to move a prior of a thousand.
pub const VERDICT_WEIGHT: u32 = 3;

/// Examples kept when the site model is rebuilt: the newest, so the filter follows what
/// this site gets now. Bounds the work and the memory whatever the moderator does.
pub const MAX_EXAMPLES: usize = 5_000;

/// How long an example is kept (DynamoDB TTL).
pub const EXAMPLE_TTL_SECS: i64 = 2 * 365 * 86_400;

/// Where the statistical rule draws its lines (`[spam]` in `site.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamSettings {
    /// At or above: spam, unseen by readers.
    #[serde(default = "default_spam_at")]
    pub spam_at: f64,
    /// At or below (and no other rule fired): approved without a moderator. Between the
    /// two: held for a moderator.
    #[serde(default = "default_approve_below")]
    pub approve_below: f64,
}

// `site spam tune` on the shared corpus picks 0.70 and 0.175 (floor 0.99); the defaults
// are one step more cautious on both sides, favouring holding over guessing.
fn default_spam_at() -> f64 {
    0.80
}
fn default_approve_below() -> f64 {
    0.15
}

impl Default for SpamSettings {
    fn default() -> Self {
        Self {
            spam_at: default_spam_at(),
            approve_below: default_approve_below(),
        }
    }
}

impl SpamSettings {
    pub fn check(&self) -> Result<(), String> {
        let ok = |v: f64| (0.0..=1.0).contains(&v);
        if !ok(self.spam_at) || !ok(self.approve_below) || self.approve_below > self.spam_at {
            return Err(format!(
                "[spam] needs 0 <= approve_below <= spam_at <= 1 (got approve_below = {}, spam_at = {})",
                self.approve_below, self.spam_at
            ));
        }
        Ok(())
    }
}

/// The shipped model, parsed on first use (not at start-up).
pub fn prior() -> &'static Model {
    static PRIOR: OnceLock<Model> = OnceLock::new();
    PRIOR.get_or_init(|| {
        serde_json::from_str(PRIOR_JSON).expect("the shipped spam model is valid JSON")
    })
}

/// Remember a moderator's verdict on a comment. `spam` is false for an approval, true for
/// marking as spam or deleting.
pub async fn record_verdict(
    store: &dyn ItemStore,
    comment: &Comment,
    spam: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (pk, sk) = keys::spam_example(&comment.id);
    let item = json!({
        "pk": pk,
        "sk": sk,
        "spam": spam,
        "text": classifier_text(&comment.author, &comment.body_md),
        "at": now.unix_timestamp(),
        "expires_at": now.unix_timestamp() + EXAMPLE_TTL_SECS,
    });
    store
        .put(
            item.as_object().cloned().unwrap_or_default(),
            Condition::Always,
        )
        .await?;
    Ok(())
}

/// The moderator's verdicts, oldest first (the newest [`MAX_EXAMPLES`]).
pub async fn examples(
    store: &dyn ItemStore,
    now: OffsetDateTime,
) -> Result<Vec<(String, bool)>, StoreError> {
    let (pk, prefix) = keys::spam_examples();
    let mut rows: Vec<(i64, String, bool)> = store
        .query(&pk, &prefix)
        .await?
        .into_iter()
        .filter(|i| {
            // DynamoDB deletes expired items late.
            i.get("expires_at")
                .and_then(Value::as_i64)
                .is_none_or(|e| e > now.unix_timestamp())
        })
        .filter_map(|i| {
            Some((
                i.get("at").and_then(Value::as_i64).unwrap_or(0),
                i.get("text")?.as_str()?.to_string(),
                i.get("spam")?.as_bool()?,
            ))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    let skip = rows.len().saturating_sub(MAX_EXAMPLES);
    Ok(rows
        .into_iter()
        .skip(skip)
        .map(|(_, t, s)| (t, s))
        .collect())
}

/// The prior, taught this site's verdicts.
pub fn site_model(examples: &[(String, bool)]) -> Model {
    let mut model = prior().clone();
    for (text, spam) in examples {
        model.learn_weighted(text, *spam, VERDICT_WEIGHT);
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads_and_tells_spam_from_a_reader() {
        let m = prior();
        let spam = m.score(&classifier_text(
            "Promo King",
            "Check out my channel and subscribe!!! http://promo.example.com",
        ));
        let reader = m.score(&classifier_text("Ann", "this song never gets old, love it"));
        assert!(spam.p_spam >= SpamSettings::default().spam_at, "{spam:?}");
        assert!(reader.p_spam < spam.p_spam, "{reader:?}");
        assert!(!spam.strongest.is_empty());
        assert!(
            PRIOR_JSON.len() < 2 * 1024 * 1024,
            "the model stays within 2 MB"
        );
    }

    #[test]
    fn thresholds_are_checked() {
        assert!(SpamSettings::default().check().is_ok());
        let crossed = SpamSettings {
            spam_at: 0.3,
            approve_below: 0.5,
        };
        assert!(crossed.check().unwrap_err().contains("approve_below"));
    }
}
