//! How good the spam verdicts are, on comments labelled by hand: each one goes through
//! [`spam::verify`], exactly as the verifier scores a new comment, and the verdicts are
//! counted against the labels.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::comments::classifier::Model;
use crate::comments::filter::{self, SpamSettings};
use crate::comments::spam::{self, Blocklist, History, Statistical, Submission, Verdict};
use crate::comments::CommentStatus;

/// A comment labelled by hand.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub author: String,
    pub body: String,
    pub spam: bool,
    /// When it was posted (ISO 8601 sorts in time order); empty if unknown.
    pub date: String,
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
/// author) and count the verdicts. The model is the same for every row: what the filter
/// does before its moderator has taught it anything.
pub fn evaluate(
    rows: &[Labelled],
    model: &Model,
    settings: &SpamSettings,
    blocklist: &Blocklist,
) -> Tally {
    let mut t = Tally::default();
    for row in rows {
        t.count(row, &verdict(row, model, settings, blocklist));
    }
    t
}

/// Score the rows in the order they were posted, as a site with a moderator lives it: each
/// comment is scored by the model as it stands then, and every comment the filter held is
/// judged by the moderator (its label), a verdict the model learns exactly as
/// [`filter::site_model`] replays a stored one. No comment is scored after its own label
/// was learned. Comments the filter decided are not reviewed, so its mistakes teach nothing.
pub fn evaluate_moderated(
    rows: &[Labelled],
    model: &Model,
    settings: &SpamSettings,
    blocklist: &Blocklist,
) -> Tally {
    let mut in_order: Vec<&Labelled> = rows.iter().collect();
    in_order.sort_by(|a, b| a.date.cmp(&b.date));
    let mut model = model.clone();
    let mut t = Tally::default();
    for row in in_order {
        let v = verdict(row, &model, settings, blocklist);
        t.count(row, &v);
        if v.status == CommentStatus::Held {
            model.learn_weighted(
                &spam::classifier_text(&row.author, &row.body),
                row.spam,
                filter::VERDICT_WEIGHT,
            );
        }
    }
    t
}

fn verdict(
    row: &Labelled,
    model: &Model,
    settings: &SpamSettings,
    blocklist: &Blocklist,
) -> Verdict {
    let statistical = Statistical {
        model,
        spam_at: settings.spam_at,
        approve_below: settings.approve_below,
    };
    spam::verify(
        &Submission {
            author: &row.author,
            website: None,
            body: &row.body,
        },
        blocklist,
        History::default(),
        Some(&statistical),
    )
}

impl Tally {
    fn count(&mut self, row: &Labelled, v: &Verdict) {
        let label = usize::from(row.spam);
        self.rows += 1;
        match v.status {
            CommentStatus::Approved => self.approved[label] += 1,
            CommentStatus::Spam => self.spam[label] += 1,
            _ => self.held[label] += 1,
        }
        for hit in v.hits.iter().filter(|h| h.points > 0) {
            let r = self.rules.entry(hit.rule.clone()).or_default();
            r.fired += 1;
            r.on_spam += label;
        }
    }
}

/// Train a model on labelled rows, with the shipped settings.
pub fn train(rows: &[Labelled]) -> Model {
    let examples: Vec<(String, bool)> = rows
        .iter()
        .map(|r| (spam::classifier_text(&r.author, &r.body), r.spam))
        .collect();
    Model::train(&examples)
}

/// The threshold pairs [`choose_thresholds`] tries, down to approve_below = 0 with
/// spam_at = 1, which holds every comment: the answer when the labelled files are too few to
/// trust the model with anything.
fn candidate_thresholds() -> impl Iterator<Item = SpamSettings> {
    (0..=16).flat_map(|a| {
        (10..=20).map(move |s| SpamSettings {
            approve_below: f64::from(a) / 40.0,
            spam_at: f64::from(s) / 20.0,
        })
    })
}

/// Thresholds learned from labelled files, never from the comments they will judge: each
/// file is scored (as [`evaluate_moderated`]) by a model trained on the others, for every
/// candidate pair, and the pair that decides the most while both precisions stay at or
/// above `floor` wins; on a tie, the more cautious pair (lower `approve_below`, higher
/// `spam_at`). `None` if fewer than two files are given.
pub fn choose_thresholds(
    files: &[Vec<Labelled>],
    blocklist: &Blocklist,
    floor: f64,
) -> Option<(SpamSettings, Tally)> {
    if files.len() < 2 {
        return None;
    }
    let models: Vec<Model> = (0..files.len())
        .map(|i| train(&all_but(files, i)))
        .collect();
    let mut best: Option<(SpamSettings, Tally)> = None;
    for settings in candidate_thresholds() {
        let mut tally = Tally::default();
        for (rows, model) in files.iter().zip(&models) {
            tally.add(&evaluate_moderated(rows, model, &settings, blocklist));
        }
        let good = tally.spam_precision() >= floor && tally.approval_precision() >= floor;
        let better = best.as_ref().is_none_or(|(b, t)| {
            let (d, bd) = (tally.decided_share(), t.decided_share());
            d > bd + 1e-12
                || ((d - bd).abs() <= 1e-12
                    && (settings.approve_below, -settings.spam_at) < (b.approve_below, -b.spam_at))
        });
        if good && better {
            best = Some((settings, tally));
        }
    }
    best
}

/// Every row of every file but the `i`th.
fn all_but(files: &[Vec<Labelled>], i: usize) -> Vec<Labelled> {
    files
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .flat_map(|(_, rows)| rows.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(body: &str, spam: bool, date: &str) -> Labelled {
        Labelled {
            author: "Visitor".into(),
            body: body.into(),
            spam,
            date: date.into(),
        }
    }

    fn training() -> Vec<Labelled> {
        let mut rows = Vec::new();
        for i in 0..30 {
            rows.push(row(
                &format!("check out my channel {i} and subscribe"),
                true,
                "",
            ));
            rows.push(row(
                &format!("this song is lovely, heard it {i} times"),
                false,
                "",
            ));
        }
        rows
    }

    /// With a moderator, a held comment's verdict is learned before the next comment, so a
    /// repeated new kind of spam gets decided; without one, the same comments stay held.
    #[test]
    fn a_moderated_run_learns_each_held_verdict_before_the_next_comment() {
        let model = train(&training());
        let settings = SpamSettings {
            spam_at: 0.8,
            approve_below: 0.1,
        };
        let pitch = "essay writing service, cheap essays written for students";
        let rows: Vec<Labelled> = (0..12)
            .rev()
            .map(|i| row(pitch, true, &format!("2015-01-{:02}", i + 1)))
            .collect();
        let blocklist = Blocklist::default();
        let alone = evaluate(&rows, &model, &settings, &blocklist);
        let moderated = evaluate_moderated(&rows, &model, &settings, &blocklist);
        assert_eq!(alone.held[1], 12, "{alone:?}");
        assert!(moderated.spam[1] > 0, "{moderated:?}");
        assert!(moderated.held[1] >= 1, "the first one waits: {moderated:?}");
        assert_eq!(moderated.rows, 12);
    }

    /// The chosen thresholds keep both precisions at the floor on the files they were
    /// chosen on; a single file gives nothing to hold out.
    #[test]
    fn chosen_thresholds_keep_the_floor() {
        let files: Vec<Vec<Labelled>> = training().chunks(20).map(<[_]>::to_vec).collect();
        let (settings, tally) = choose_thresholds(&files, &Blocklist::default(), 0.99).unwrap();
        assert!(settings.check().is_ok());
        assert!(tally.spam_precision() >= 0.99 && tally.approval_precision() >= 0.99);
        assert_eq!(tally.rows, 60);
        assert!(choose_thresholds(&files[..1], &Blocklist::default(), 0.99).is_none());
    }
}
