//! How good the spam verdicts are, on comments labelled by hand: each one goes through
//! [`spam::verify`], exactly as the verifier scores a new comment, and the verdicts are
//! counted against the labels.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::comments::classifier::Model;
use crate::comments::filter::SpamSettings;
use crate::comments::spam::{self, Blocklist, History, Statistical, Submission};
use crate::comments::CommentStatus;

/// A comment labelled by hand.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub author: String,
    pub body: String,
    pub spam: bool,
}

/// Verdicts against labels.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    pub rows: usize,
    /// `[ham, spam]` counts per verdict.
    pub approved: [usize; 2],
    pub held: [usize; 2],
    pub spam: [usize; 2],
    /// Per rule: how often it fired, and how often on a comment labelled spam.
    pub rules: BTreeMap<String, RuleTally>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RuleTally {
    pub fired: usize,
    pub on_spam: usize,
}

impl Tally {
    /// Of the comments marked spam, the share that is spam (1 when none were).
    pub fn spam_precision(&self) -> f64 {
        share(self.spam[1], self.spam[0] + self.spam[1])
    }

    /// Of the comments approved without a moderator, the share that is not spam.
    pub fn approval_precision(&self) -> f64 {
        share(self.approved[0], self.approved[0] + self.approved[1])
    }

    /// The share decided without a moderator (approved or spam).
    pub fn decided_share(&self) -> f64 {
        share(
            self.approved.iter().chain(&self.spam).sum(),
            self.rows.max(1),
        )
    }

    pub fn add(&mut self, other: &Tally) {
        self.rows += other.rows;
        for k in 0..2 {
            self.approved[k] += other.approved[k];
            self.held[k] += other.held[k];
            self.spam[k] += other.spam[k];
        }
        for (rule, t) in &other.rules {
            let mine = self.rules.entry(rule.clone()).or_default();
            mine.fired += t.fired;
            mine.on_spam += t.on_spam;
        }
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Score every row as the verifier would (no history: each comment is new, from a new
/// author) and count the verdicts.
pub fn evaluate(
    rows: &[Labelled],
    model: &Model,
    settings: &SpamSettings,
    blocklist: &Blocklist,
) -> Tally {
    let mut t = Tally::default();
    let statistical = Statistical {
        model,
        spam_at: settings.spam_at,
        approve_below: settings.approve_below,
    };
    for row in rows {
        let v = spam::verify(
            &Submission {
                author: &row.author,
                website: None,
                body: &row.body,
            },
            blocklist,
            History::default(),
            Some(&statistical),
        );
        let label = usize::from(row.spam);
        t.rows += 1;
        match v.status {
            CommentStatus::Approved => t.approved[label] += 1,
            CommentStatus::Spam => t.spam[label] += 1,
            _ => t.held[label] += 1,
        }
        for hit in v.hits.iter().filter(|h| h.points > 0) {
            let r = t.rules.entry(hit.rule.clone()).or_default();
            r.fired += 1;
            r.on_spam += label;
        }
    }
    t
}

/// Train a model on labelled rows, with the shipped settings.
pub fn train(rows: &[Labelled]) -> Model {
    let examples: Vec<(String, bool)> = rows
        .iter()
        .map(|r| (spam::classifier_text(&r.author, &r.body), r.spam))
        .collect();
    Model::train(&examples)
}
