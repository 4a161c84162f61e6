//! Spam verification rules: pure and explainable. Each rule that fires is kept with the
//! verdict, so a moderator (and the site owner) can see why a comment was held.
//! hCaptcha already ran at submission; this is the second layer.

use crate::comments::classifier::Model;
use crate::comments::CommentStatus;

pub use crate::comments::model::RuleHit;

/// At or above this, spam; above zero, held for a moderator; otherwise approved.
pub const SPAM_AT: i32 = 4;

/// The site owner's blocklist (`blocklist.txt` in the content bucket): one entry a line,
/// `#` starts a comment; an entry with a dot and no spaces is a domain, others are words or
/// phrases, matched case-insensitively.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Blocklist {
    pub words: Vec<String>,
    pub domains: Vec<String>,
}

impl Blocklist {
    pub fn parse(text: &str) -> Self {
        let mut b = Blocklist::default();
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim().to_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry.contains('.') && !entry.contains(' ') {
                b.domains.push(entry.trim_start_matches("*.").to_string());
            } else {
                b.words.push(entry);
            }
        }
        b
    }

    /// Whether a URL is on a listed domain (or a subdomain of one), or contains a listed word.
    pub fn blocks_url(&self, url: &str) -> bool {
        let lower = url.to_lowercase();
        let host = url::Url::parse(&lower)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        self.domains.iter().any(|d| domain_matches(&host, d))
            || self.words.iter().any(|w| lower.contains(w.as_str()))
    }
}

/// The statistical rule: a text classifier's spam probability, with the site owner's
/// thresholds (`[spam]` in `site.toml`). At or above `spam_at` it counts as much as a
/// blocklist hit; at or below `approve_below` it adds nothing; between, it holds the
/// comment for a moderator.
pub struct Statistical<'a> {
    pub model: &'a Model,
    pub spam_at: f64,
    pub approve_below: f64,
}

/// What the classifier reads of a comment: the name and the text.
pub fn classifier_text(author: &str, body: &str) -> String {
    crate::comments::classifier::with_author(author, body)
}

/// What the rules look at.
pub struct Submission<'a> {
    pub author: &'a str,
    pub website: Option<&'a str>,
    pub body: &'a str,
}

/// Facts from the records store.
#[derive(Debug, Default, Clone, Copy)]
pub struct History {
    /// The same text was posted recently (as another comment).
    pub duplicate: bool,
    /// The author (by keyed e-mail hash) has earlier approved comments.
    pub trusted_author: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: CommentStatus,
    pub score: i32,
    pub hits: Vec<RuleHit>,
}

fn hosts_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("://") {
        let rest = &text[i + 3..];
        let host: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        if !host.is_empty() {
            out.push(host.to_lowercase());
        }
    }
    // Case-insensitive, on the original text: lower-casing can change byte lengths (`İ`,
    // Kelvin `K`), so offsets found in a lower-cased copy do not fit the original.
    let starts = text.char_indices().filter(|(i, _)| {
        text.get(*i..i + 4)
            .is_some_and(|w| w.eq_ignore_ascii_case("www."))
    });
    for (i, _) in starts {
        let host: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        let host = host.to_lowercase();
        if !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// Score a submission. Pure.
pub fn verify(
    s: &Submission<'_>,
    blocklist: &Blocklist,
    history: History,
    statistical: Option<&Statistical<'_>>,
) -> Verdict {
    let mut hits = Vec::new();
    let mut hit = |rule: &str, points: i32, detail: String| {
        hits.push(RuleHit {
            rule: rule.into(),
            points,
            detail,
        })
    };
    let body_lower = s.body.to_lowercase();

    let links = hosts_in(s.body);
    match links.len() {
        0 | 1 => {}
        2 => hit("links", 1, "2 links".into()),
        n @ 3..=4 => hit("links", 2, format!("{n} links")),
        n => hit("links", 4, format!("{n} links")),
    }
    for w in &blocklist.words {
        if body_lower.contains(w.as_str()) || s.author.to_lowercase().contains(w.as_str()) {
            hit("blocklisted-word", 4, format!("contains “{w}”"));
        }
    }
    let mut hosts = links.clone();
    if let Some(site) = s.website {
        hosts.extend(hosts_in(site));
    }
    for d in &blocklist.domains {
        if hosts.iter().any(|h| domain_matches(h, d)) {
            hit("blocklisted-domain", 4, format!("links to {d}"));
        }
    }
    if history.duplicate {
        hit("duplicate", 4, "the same text was posted recently".into());
    }
    let name_lower = s.author.to_lowercase();
    if name_lower.contains("http") || name_lower.contains("www.") || !hosts_in(s.author).is_empty()
    {
        hit("name-has-link", 3, "the name contains a web address".into());
    }
    let letters: Vec<char> = s.body.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 20 && letters.iter().all(|c| c.is_uppercase()) {
        hit("shouting", 1, "the text is all capitals".into());
    }
    let words = s.body.split_whitespace().count();
    if words < 3 && !links.is_empty() {
        hit("link-only", 2, "a link with almost no text".into());
    }
    if let Some(st) = statistical {
        let score = st.model.score(&classifier_text(s.author, s.body));
        let words: Vec<&str> = score.strongest.iter().map(|(w, _)| w.as_str()).collect();
        let points = if score.p_spam >= st.spam_at {
            SPAM_AT
        } else if score.p_spam > st.approve_below {
            1
        } else {
            0
        };
        let leaning = if score.p_spam > st.approve_below {
            "spam"
        } else {
            "not spam"
        };
        hit(
            "statistical",
            points,
            format!(
                "{:.2} spam ({leaning}); strongest words: {}",
                score.p_spam,
                words.join(", ")
            ),
        );
    }
    // Trust softens doubt about the wording, never a blocklist or duplicate hit, and never
    // the link count: an address is typed by anyone, so it must not open those doors.
    let hard = [
        "blocklisted-word",
        "blocklisted-domain",
        "duplicate",
        "links",
    ];
    if history.trusted_author && !hits.iter().any(|h| hard.contains(&h.rule.as_str())) {
        hits.push(RuleHit {
            rule: "trusted-author".into(),
            points: -2,
            detail: "a moderator approved earlier comments by this address".into(),
        });
    }
    let score: i32 = hits.iter().map(|h| h.points).sum();
    let status = if score >= SPAM_AT {
        CommentStatus::Spam
    } else if score > 0 {
        CommentStatus::Held
    } else {
        CommentStatus::Approved
    };
    Verdict {
        status,
        score,
        hits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub<'a>(author: &'a str, body: &'a str) -> Submission<'a> {
        Submission {
            author,
            website: None,
            body,
        }
    }

    #[test]
    fn a_plain_comment_is_approved() {
        let v = verify(
            &sub(
                "Lindsay",
                "Creative learning beats pigeon-holed facts, every time.",
            ),
            &Blocklist::default(),
            History::default(),
            None,
        );
        assert_eq!(v.status, CommentStatus::Approved);
        assert!(v.hits.is_empty());
    }

    #[test]
    fn links_raise_the_score_and_explain_why() {
        let v = verify(
            &sub(
                "A",
                "see https://a.example and https://b.example and https://c.example",
            ),
            &Blocklist::default(),
            History::default(),
            None,
        );
        assert_eq!(v.status, CommentStatus::Held);
        assert_eq!(v.hits[0].rule, "links");
        let v = verify(
            &sub("A", &"https://x.example/ ".repeat(6)),
            &Blocklist::default(),
            History::default(),
            None,
        );
        assert_eq!(v.status, CommentStatus::Spam);
    }

    #[test]
    fn blocklist_words_and_domains() {
        let b = Blocklist::parse("# owner's list\ncheap pills\nspam.example\n*.casino.example\n");
        assert_eq!(b.words, vec!["cheap pills"]);
        assert_eq!(b.domains, vec!["spam.example", "casino.example"]);
        assert_eq!(
            verify(
                &sub("A", "Buy CHEAP pills now"),
                &b,
                History::default(),
                None
            )
            .status,
            CommentStatus::Spam
        );
        let v = verify(
            &Submission {
                author: "A",
                website: Some("https://www.casino.example/x"),
                body: "Nice post.",
            },
            &b,
            History::default(),
            None,
        );
        assert_eq!(v.status, CommentStatus::Spam);
        assert_eq!(v.hits[0].rule, "blocklisted-domain");
        assert_eq!(
            verify(
                &sub("A", "notspam.example.org is fine"),
                &b,
                History::default(),
                None
            )
            .status,
            CommentStatus::Approved
        );
    }

    #[test]
    fn duplicates_names_with_links_and_trust() {
        let text = "I agree with this entirely.";
        assert_eq!(
            verify(
                &sub("A", text),
                &Blocklist::default(),
                History {
                    duplicate: true,
                    ..Default::default()
                },
                None
            )
            .status,
            CommentStatus::Spam
        );
        assert_eq!(
            verify(
                &sub("Best deals www.shop.example", text),
                &Blocklist::default(),
                History::default(),
                None
            )
            .status,
            CommentStatus::Held
        );
        let two_links =
            "Two reports: https://a.example/r1 and https://b.example/r2 are worth reading.";
        assert_eq!(
            verify(
                &sub("A", two_links),
                &Blocklist::default(),
                History::default(),
                None
            )
            .status,
            CommentStatus::Held
        );
        // Trust never lifts the link count, a duplicate or the blocklist...
        let trusted = History {
            trusted_author: true,
            ..Default::default()
        };
        let v = verify(&sub("A", two_links), &Blocklist::default(), trusted, None);
        assert_eq!(v.status, CommentStatus::Held);
        assert!(!v.hits.iter().any(|h| h.rule == "trusted-author"));
        let dup = History {
            trusted_author: true,
            duplicate: true,
        };
        assert_eq!(
            verify(&sub("A", text), &Blocklist::default(), dup, None).status,
            CommentStatus::Spam
        );
        let b = Blocklist::parse("casino\n");
        assert_eq!(
            verify(&sub("A", "Casino night!"), &b, trusted, None).status,
            CommentStatus::Spam
        );
        // ... it only softens doubt about the wording (here: all capitals).
        let shouting = "WE ALL AGREE WITH THIS CAMPAIGN COMPLETELY";
        assert_eq!(
            verify(
                &sub("A", shouting),
                &Blocklist::default(),
                History::default(),
                None
            )
            .status,
            CommentStatus::Held
        );
        let v = verify(&sub("A", shouting), &Blocklist::default(), trusted, None);
        assert_eq!(v.status, CommentStatus::Approved);
        assert!(v.hits.iter().any(|h| h.rule == "trusted-author"));
    }

    /// Lower-casing changes byte lengths (`İ` is 2 bytes, "i̇" 3): the link scan must not
    /// slice the original text at offsets found in a lower-cased copy.
    #[test]
    fn text_whose_case_changes_length_is_scored_without_panicking() {
        for body in [
            "İİİİİwww.",
            "ΩKẞİ www.example.org İ",
            "İİİİİWWW.Spam.Example x",
        ] {
            let v = verify(
                &sub("A", body),
                &Blocklist::default(),
                History::default(),
                None,
            );
            assert!(v.score >= 0, "{body}");
        }
        let b = Blocklist::parse("spam.example\n");
        let v = verify(
            &Submission {
                author: "A",
                website: Some("https://example.org/İİİİİwww."),
                body: "İİİİİWWW.Spam.Example is here",
            },
            &b,
            History::default(),
            None,
        );
        assert_eq!(v.status, CommentStatus::Spam, "{v:?}");
    }
}
