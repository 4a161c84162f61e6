//! What the classifier reads of a comment: words (tags stripped, entities decoded) and
//! shape signals (links and their hosts, shouting, "!!!", length).

use super::AUTHOR_MARK;

/// Words (lower-cased) and shape signals of one comment.
#[derive(Debug, Default, PartialEq)]
pub struct Tokens {
    pub words: Vec<String>,
    pub signals: Vec<String>,
    /// Lower-cased words of the author name (see [`with_author`]).
    pub author: Vec<String>,
}

/// Strip HTML tags (keeping link targets), decode basic entities, pull links out as
/// signals (`[link]`, `[link host]`) and split the rest into words.
pub fn tokenise(raw: &str) -> Tokens {
    let (name, raw) = match raw
        .strip_prefix(AUTHOR_MARK)
        .and_then(|r| r.split_once(AUTHOR_MARK))
    {
        Some((name, text)) => (name, text),
        None => ("", raw),
    };
    let author = split_words(name);
    let mut links: Vec<String> = Vec::new();
    let text = decode_entities(&strip_tags(raw, &mut links));
    let mut rest = String::with_capacity(text.len());
    for piece in text.split_whitespace() {
        if looks_like_url(piece) {
            links.push(piece.to_string());
        } else {
            rest.push_str(piece);
            rest.push(' ');
        }
    }
    let letters: Vec<char> = rest.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let words = split_words(&rest);
    let mut signals = Vec::new();
    if !links.is_empty() {
        signals.push("[link]".to_string());
        if words.len() < 4 {
            signals.push("[link, little text]".to_string());
        }
    }
    for l in &links {
        signals.push(format!("[link {}]", host(l)));
    }
    if letters.len() >= 8 && upper * 2 > letters.len() {
        signals.push("[SHOUTING]".to_string());
    }
    if rest.matches('!').count() >= 3 {
        signals.push("[!!!]".to_string());
    }
    let len = ["tiny", "short", "medium", "long"]
        [[3, 10, 30].iter().filter(|&&b| words.len() > b).count()];
    signals.push(format!("[length {len}]"));
    Tokens {
        words,
        signals,
        author,
    }
}

fn split_words(s: &str) -> Vec<String> {
    s.replace(['\'', '\u{2019}'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Replace tags by spaces; collect `href` targets.
fn strip_tags(s: &str, links: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let is_tag = after[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(end) if is_tag => {
                let tag = &after[..end];
                if let Some(h) = tag.find("href=\"") {
                    let v = &tag[h + 6..];
                    links.push(v[..v.find('"').unwrap_or(v.len())].trim().to_string());
                }
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

const ENTITIES: [(&str, char); 6] = [
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
];

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let n = &after[1..e];
            let hex = |h: &str| u32::from_str_radix(h, 16).ok();
            let num = n
                .strip_prefix("#x")
                .and_then(hex)
                .or_else(|| n.strip_prefix('#')?.parse().ok());
            ENTITIES
                .iter()
                .find(|x| x.0 == n)
                .map(|x| x.1)
                .or_else(|| num.and_then(char::from_u32))
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn looks_like_url(piece: &str) -> bool {
    let p = piece.to_ascii_lowercase();
    if p.contains("http://") || p.contains("https://") || p.contains("www.") {
        return true;
    }
    // Bare domains ("murdev.com", "bit.ly/x"): a dot followed by a common TLD.
    const TLDS: [&str; 12] = [
        "com", "net", "org", "ly", "info", "co", "tk", "me", "tv", "ru", "be", "gl",
    ];
    p.split('/').next().is_some_and(|head| {
        let mut parts = head.trim_end_matches(['.', ',', '!', ')']).rsplitn(2, '.');
        matches!((parts.next(), parts.next()), (Some(tld), Some(name))
            if TLDS.contains(&tld) && name.len() >= 2 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    })
}

/// Host of a link, without scheme or `www.`, lower-cased.
fn host(url: &str) -> String {
    let u = url.to_ascii_lowercase();
    let u = u.split("://").last().unwrap_or(&u);
    let h = u.split(['/', '?', '#', '"']).next().unwrap_or("");
    h.trim_start_matches("www.")
        .trim_end_matches(['.', ',', '!', ')'])
        .to_string()
}
