//! Explainable comment-spam classifier: logistic regression over hashed features (word
//! unigrams, word bigrams, in-word character n-grams, shape signals, optional author-name
//! tokens), fitted by AdaGrad with L2 in a fixed, seeded order, so training is deterministic.
//!
//! `train` fits the shipped prior in batch (several epochs); `learn_weighted(text, spam, k)`
//! then takes k AdaGrad steps on one moderator verdict, so a site model is rebuilt as
//! "shipped prior, then its verdicts in order". Features are hashed into a fixed number of
//! buckets, which bounds the model size whatever the site feeds it. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

mod tokens;
use std::collections::HashMap;
pub use tokens::{tokenise, Tokens};

/// Default bucket count: 2^16 keeps the sparse JSON model well under 2 MB.
pub const DEFAULT_BUCKETS: usize = 1 << 16;
/// Separates an author name placed in front of the text by [`with_author`].
pub const AUTHOR_MARK: char = '\u{1F}';

/// Text plus commenter name, in the form `learn`/`score` read as `name:` tokens (only if
/// `Features::author` is on; otherwise the name is ignored).
pub fn with_author(author: &str, text: &str) -> String {
    format!(
        "{AUTHOR_MARK}{}{AUTHOR_MARK}{text}",
        author.replace(AUTHOR_MARK, " ")
    )
}

/// Which features the tokeniser emits; stored in the model so it re-tokenises the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub words: bool,
    pub bigrams: bool,
    /// Inclusive range of character n-gram lengths inside each (space-padded) word.
    pub char_ngrams: Option<(usize, usize)>,
    /// Shape tokens: link, link host, shouting, many '!', length bucket.
    pub signals: bool,
    /// `name:` tokens from an author name given through [`with_author`].
    #[serde(default)]
    pub author: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            words: true,
            bigrams: true,
            char_ngrams: Some((2, 4)),
            signals: true,
            author: true,
        }
    }
}

/// Learning knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// AdaGrad base step size.
    pub eta: f64,
    /// L2 penalty per step (applied lazily to the weights an example touches).
    pub l2: f64,
    /// Passes over the data in `train`.
    pub epochs: usize,
    /// Value of a shape signal; other features get 1/sqrt(number of features).
    pub signal_value: f64,
    /// Cap on the AdaGrad accumulators, so late verdicts still move the model.
    pub max_accum: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            eta: 0.3,
            l2: 1e-3,
            epochs: 10,
            signal_value: 0.5,
            max_accum: 4.0,
        }
    }
}

/// Result of scoring one comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Probability of spam (logistic of `log_odds`).
    pub p_spam: f64,
    /// Linear score of the logistic regression.
    pub log_odds: f64,
    /// Up to five words/signals that pushed hardest toward the verdict, with their
    /// contribution to the log-odds (positive = toward spam).
    pub strongest: Vec<(String, f64)>,
}

/// Weights and AdaGrad state. Serialised sparsely (only touched buckets) via [`Stored`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "Stored", from = "Stored")]
pub struct Model {
    pub features: Features,
    pub tuning: Tuning,
    w: Vec<f32>,
    /// AdaGrad sum of squared gradients per bucket; `bias` is [weight, accumulator].
    g: Vec<f32>,
    bias: [f64; 2],
    docs: [u64; 2],
}

#[derive(Serialize, Deserialize)]
struct Stored {
    features: Features,
    tuning: Tuning,
    buckets: usize,
    bias: [f64; 2],
    docs: [u64; 2],
    /// `[index, weight, accumulator]` for every touched bucket.
    weights: Vec<(u32, f32, f32)>,
}

impl From<Model> for Stored {
    fn from(m: Model) -> Self {
        let weights = (0..m.w.len())
            .filter(|&i| m.g[i] != 0.0 || m.w[i] != 0.0)
            .map(|i| (i as u32, m.w[i], m.g[i]))
            .collect();
        let (features, tuning, bias, docs) = (m.features, m.tuning, m.bias, m.docs);
        Stored {
            features,
            tuning,
            buckets: m.w.len(),
            bias,
            docs,
            weights,
        }
    }
}

impl From<Stored> for Model {
    fn from(s: Stored) -> Self {
        let mut m = Model::with_config(s.features, s.buckets.clamp(1, 1 << 24));
        (m.tuning, m.bias, m.docs) = (s.tuning, s.bias, s.docs);
        for (i, w, g) in s.weights {
            let ok = (i as usize) < m.w.len() && w.is_finite() && g.is_finite() && g >= 0.0;
            if ok {
                (m.w[i as usize], m.g[i as usize]) = (w.clamp(-50.0, 50.0), g);
            }
        }
        m
    }
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

/// One hashed feature: bucket, value, index into the names list.
struct Feat {
    bucket: usize,
    x: f64,
    name: usize,
}

impl Model {
    pub fn new() -> Self {
        Self::with_config(Features::default(), DEFAULT_BUCKETS)
    }

    pub fn with_config(features: Features, buckets: usize) -> Self {
        let (w, g) = (vec![0.0; buckets.max(1)], vec![0.0; buckets.max(1)]);
        Model {
            features,
            tuning: Tuning::default(),
            w,
            g,
            bias: [0.0; 2],
            docs: [0; 2],
        }
    }

    /// Fit a default-configured model on `examples` in batch (see [`Model::fit`]).
    pub fn train(examples: &[(String, bool)]) -> Model {
        Model::new().fit(examples)
    }

    /// Continue from this model (its config, and its weights if any): `tuning.epochs`
    /// passes over `examples`, each in a fixed pseudo-random order (seeded, deterministic).
    pub fn fit(&self, examples: &[(String, bool)]) -> Model {
        let mut m = self.clone();
        let feats: Vec<Vec<Feat>> = examples.iter().map(|(t, _)| m.featurise(t).0).collect();
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..m.tuning.epochs {
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for &i in &order {
                m.step(&feats[i], examples[i].1, 1.0, true);
            }
        }
        for (_, spam) in examples {
            m.docs[usize::from(*spam)] += 1;
        }
        m
    }

    /// Comments learned so far, as (ham, spam); each `fit` example counts once.
    pub fn docs(&self) -> (u64, u64) {
        (self.docs[0], self.docs[1])
    }

    pub fn learn(&mut self, text: &str, spam: bool) {
        self.learn_weighted(text, spam, 1);
    }

    /// Learn one verdict with `k` AdaGrad steps (a moderator's verdict outweighing the prior).
    /// The bias stays as `fit` left it: a run of one-sided verdicts must not tilt every
    /// later comment (thresholds carry the base rate).
    pub fn learn_weighted(&mut self, text: &str, spam: bool, k: u32) {
        let feats = self.featurise(text).0;
        for _ in 0..k.min(1000) {
            self.step(&feats, spam, 1.0, false);
        }
        self.docs[usize::from(spam)] += u64::from(k);
    }

    /// Approximately undo one `learn` (a reversed verdict): one step up the same gradient.
    pub fn unlearn(&mut self, text: &str, spam: bool) {
        let feats = self.featurise(text).0;
        self.step(&feats, spam, -1.0, false);
        let d = &mut self.docs[usize::from(spam)];
        *d = d.saturating_sub(1);
    }

    /// Add another model's weights `k` times (log-odds add up). Both must share features
    /// and bucket count; accumulators take the larger of the two.
    pub fn merge_weighted(&mut self, other: &Model, k: u32) -> Result<(), String> {
        if self.features != other.features || self.w.len() != other.w.len() {
            return Err("cannot merge models with different features or bucket counts".into());
        }
        for i in 0..self.w.len() {
            self.w[i] += k as f32 * other.w[i];
            self.g[i] = self.g[i].max(other.g[i]);
        }
        self.bias[0] += f64::from(k) * other.bias[0];
        self.bias[1] = self.bias[1].max(other.bias[1]);
        for c in 0..2 {
            self.docs[c] += other.docs[c] * u64::from(k);
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Model) -> Result<(), String> {
        self.merge_weighted(other, 1)
    }

    /// One AdaGrad step on the log loss; `dir` = -1 walks back up the gradient.
    fn step(&mut self, feats: &[Feat], spam: bool, dir: f64, bias: bool) {
        let t = &self.tuning;
        let z = self.bias[0]
            + feats
                .iter()
                .map(|f| f64::from(self.w[f.bucket]) * f.x)
                .sum::<f64>();
        let err = sigmoid(z) - f64::from(u8::from(spam));
        let cap = t.max_accum.max(1e-9);
        let ada = |g: &mut f64, grad: f64| {
            *g = (*g + grad * grad).min(cap);
            dir * t.eta * grad / (g.sqrt() + 1e-6)
        };
        for f in feats {
            let w = f64::from(self.w[f.bucket]);
            let mut g = f64::from(self.g[f.bucket]);
            let upd = ada(&mut g, err * f.x + t.l2 * w);
            self.w[f.bucket] = (w - upd).clamp(-50.0, 50.0) as f32;
            self.g[f.bucket] = g as f32;
        }
        if bias {
            let upd = ada(&mut self.bias[1], err);
            self.bias[0] = (self.bias[0] - upd).clamp(-50.0, 50.0);
        }
    }

    /// Score a comment and explain the verdict.
    pub fn score(&self, text: &str) -> Score {
        let (feats, names) = self.featurise(text);
        let mut log_odds = self.bias[0];
        let mut by_name: HashMap<&str, f64> = HashMap::new();
        for f in &feats {
            let c = f64::from(self.w[f.bucket]) * f.x;
            log_odds += c;
            *by_name.entry(names[f.name].as_str()).or_default() += c;
        }
        let sign = if log_odds >= 0.0 { 1.0 } else { -1.0 };
        let mut strongest: Vec<(String, f64)> = by_name
            .into_iter()
            .filter(|(_, w)| w * sign > 0.0)
            .map(|(n, w)| (n.to_string(), w))
            .collect();
        strongest.sort_by(|a, b| (b.1 * sign).total_cmp(&(a.1 * sign)).then(a.0.cmp(&b.0)));
        strongest.truncate(5);
        Score {
            p_spam: sigmoid(log_odds),
            log_odds,
            strongest,
        }
    }

    /// Distinct buckets hit by `text` with their values, each tagged with the index of a
    /// human-readable name (the word, bigram, signal or `name:` token it came from).
    fn featurise(&self, text: &str) -> (Vec<Feat>, Vec<String>) {
        let f = &self.features;
        let n = self.w.len() as u64;
        let toks = tokenise(text);
        let mut names = Names::default();
        // (bucket, is a shape signal, name index); a bucket counts once per comment.
        let mut out: Vec<(usize, bool, usize)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |kind: u8, parts: &[&str], name: usize| {
            let bucket = (hash(kind, parts) % n) as usize;
            if seen.insert(bucket) {
                out.push((bucket, kind == b's', name));
            }
        };
        for (i, w) in toks.words.iter().enumerate() {
            let word = names.index(w);
            if f.words {
                push(b'w', &[w], word);
            }
            if f.bigrams && i + 1 < toks.words.len() {
                let next = &toks.words[i + 1];
                push(b'b', &[w, " ", next], names.index(&format!("{w} {next}")));
            }
            if let Some((lo, hi)) = f.char_ngrams {
                // Grams are slices of the padded word between character boundaries.
                let padded = format!(" {w} ");
                let bounds: Vec<usize> = padded
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(padded.len()))
                    .collect();
                for len in lo.max(1)..=hi.min(8) {
                    for start in 0..bounds.len().saturating_sub(len) {
                        push(b'c', &[&padded[bounds[start]..bounds[start + len]]], word);
                    }
                }
            }
        }
        if f.signals {
            for s in &toks.signals {
                push(b's', &[s], names.index(s));
            }
        }
        if f.author {
            for a in &toks.author {
                push(b'n', &[a], names.index(&format!("name:{a}")));
            }
        }
        let plain = out.iter().filter(|f| !f.1).count().max(1) as f64;
        let feats = out
            .into_iter()
            .map(|(bucket, sig, name)| {
                let x = if sig {
                    self.tuning.signal_value
                } else {
                    1.0 / plain.sqrt()
                };
                Feat { bucket, x, name }
            })
            .collect();
        (feats, names.list)
    }
}

/// Human-readable feature names, each stored once.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    fn index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), self.list.len() - 1);
        self.list.len() - 1
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// FNV-1a: stable across platforms and Rust versions, unlike `DefaultHasher`, so saved
/// models keep meaning the same thing.
fn hash(kind: u8, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(kind).chain(parts.iter().flat_map(|p| p.bytes())) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
