//! Post bodies: WordPress `content:encoded` → CommonMark.
//!
//! WordPress stores a post body half-formatted: HTML fragments, bare text whose paragraphs
//! and line breaks `wpautop` only adds when the page is shown, shortcodes (`[caption]`,
//! `[gallery]`, …) and, since the block editor, `<!-- wp:… -->` comments. [`to_markdown`]
//! turns that into Markdown which our renderer (pulldown-cmark, raw HTML shown escaped)
//! shows the way the old site did. Whatever has no Markdown form stays visible as text and
//! is listed in [`Converted::unconverted`]: an import never loses content silently.
//!
//! The scanner is hand-written for the subset WordPress produces (no dependency, never
//! panics, linear on ordinary input). The tree it builds is at most `MAX_DEPTH` levels
//! deep, so the recursive rendering needs little stack whatever the input.

use std::collections::{HashMap, HashSet};

/// One media-library item, as the export lists it: what `[gallery ids]` and
/// `[caption id="attachment_N"]` point at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attachment {
    pub url: String,
    pub caption: String,
    pub alt: String,
}

/// Looks attachments up by post id, so the converter needs no knowledge of the export.
pub trait Attachments {
    fn by_id(&self, id: u64) -> Option<Attachment>;
}

impl Attachments for HashMap<u64, Attachment> {
    fn by_id(&self, id: u64) -> Option<Attachment> {
        self.get(&id).cloned()
    }
}

/// The Markdown of one body and what the import report needs about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Converted {
    pub markdown: String,
    /// Every image URL the body uses (src of <img>, gallery images), in order, deduplicated: the importer copies them and rewrites them.
    pub images: Vec<String>,
    /// What could not be converted (tag names / shortcode names with a short excerpt), kept visibly as text in `markdown` too: for the import report. Never silently lost.
    pub unconverted: Vec<String>,
}

/// Deepest element nesting kept as structure; deeper markup is flattened (its text kept) so
/// that hostile or broken bodies cannot exhaust the stack.
const MAX_DEPTH: usize = 64;
/// Hard-break marker inside inline buffers; NUL is removed from the input first.
const BR: char = '\0';
/// Longest tag / shortcode considered markup; longer runs are text (bounds rescanning).
const MAX_TAG: usize = 256 * 1024;
const MAX_SHORTCODE: usize = 16 * 1024;

/// Converts one post body. Deterministic: the same input gives the same bytes.
pub fn to_markdown(body: &str, attachments: &dyn Attachments) -> Converted {
    let text = normalize(body);
    let (root, too_deep) = build(lex(&text));
    let mut r = Renderer {
        atts: attachments,
        images: Vec::new(),
        seen_images: HashSet::new(),
        unconverted: Vec::new(),
        seen_notes: HashSet::new(),
        fragment_depth: 0,
    };
    let blocks = r.flow_blocks(&root.children, None);
    if too_deep {
        r.note(format!(
            "nesting deeper than {MAX_DEPTH} levels: inner markup flattened"
        ));
    }
    let joined = join_blocks(&blocks).replace(BR, " ");
    let mut markdown = String::with_capacity(joined.len() + 1);
    if !joined.trim().is_empty() {
        for line in joined.split('\n') {
            markdown.push_str(line.trim_end_matches([' ', '\t']));
            markdown.push('\n');
        }
        while markdown.ends_with("\n\n") {
            markdown.pop();
        }
    }
    Converted {
        markdown,
        images: r.images,
        unconverted: r.unconverted,
    }
}

/// Rewrite image URLs in converted Markdown (old upload URL → new photo path) — a plain, exact replace of the URLs inside `](...)` targets only.
///
/// Targets are compared unescaped, so the map sees the same strings as
/// [`Converted::images`]; code spans and fenced code are left alone.
pub fn rewrite_images(markdown: &str, map: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<(u8, usize)> = None;
    for line in markdown.split_inclusive('\n') {
        let t = strip_block_prefixes(line.trim_end_matches('\n'));
        if let Some((ch, n)) = fence {
            let run = t.bytes().take_while(|&c| c == ch).count();
            if run >= n && t[run..].trim().is_empty() {
                fence = None;
            }
            out.push_str(line);
            continue;
        }
        if let Some(f) = fence_open(t) {
            fence = Some(f);
            out.push_str(line);
            continue;
        }
        rewrite_line(line, map, &mut out);
    }
    out
}

/// "The Sage Gateshead Comusica. Photo: Mark Savage" → ("The Sage Gateshead Comusica", Some("Mark Savage")); also "Photo by X", "Photograph: X", "Image: X", "Credit: X", "© X", "(c) X" at the end; no credit → (caption, None).
pub fn split_credit(caption: &str) -> (String, Option<String>) {
    const MARKERS: &[&str] = &[
        "photo credit:",
        "image credit:",
        "photo courtesy of",
        "courtesy of",
        "photographs by",
        "photograph by",
        "photographs:",
        "photograph:",
        "photos by",
        "photo by",
        "photos:",
        "photo:",
        "pictures:",
        "picture:",
        "pic:",
        "images:",
        "image by",
        "image:",
        "credits:",
        "credit:",
        "©",
        "(c)",
    ];
    const SEPARATORS: &str = ".,;:|/([–—-";
    let text = caption.trim();
    // ASCII lowering keeps byte offsets, so positions found in `lower` index `text`.
    let lower = text.to_ascii_lowercase();
    for (p, _) in text.char_indices() {
        for m in MARKERS {
            if !lower[p..].starts_with(m) {
                continue;
            }
            let symbol = *m == "©" || *m == "(c)";
            let before = text[..p].trim_end();
            let prev = before.chars().next_back();
            let ok_before = match prev {
                None => true,
                Some(c) => {
                    SEPARATORS.contains(c) || (symbol && text[..p].ends_with(char::is_whitespace))
                }
            };
            let after = &text[p + m.len()..];
            let needs_space = m.ends_with(|c: char| c.is_ascii_alphabetic()) || *m == "(c)";
            if !ok_before
                || (needs_space && !after.is_empty() && !after.starts_with(char::is_whitespace))
            {
                continue;
            }
            let mut credit = after.trim();
            if prev == Some('(') {
                credit = credit.strip_suffix(')').unwrap_or(credit).trim_end();
            }
            let credit = credit.trim_end_matches('.').trim();
            if credit.is_empty() {
                continue;
            }
            let cap =
                before.trim_end_matches(|c: char| c.is_whitespace() || SEPARATORS.contains(c));
            return (cap.to_string(), Some(credit.to_string()));
        }
    }
    (text.to_string(), None)
}

// ---------------------------------------------------------------------------------------
// Input clean-up and entities
// ---------------------------------------------------------------------------------------

/// One line-ending convention, no NUL (it is the hard-break marker), no BOM.
fn normalize(s: &str) -> String {
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\0' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Decodes character references; unknown or unterminated ones stay as typed (visible).
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let tail = &rest[p..];
        match entity(tail) {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` starts with `&`: the character and the length of the reference, if it is one.
fn entity(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (hex, start) = match b.get(2) {
            Some(b'x' | b'X') => (true, 3),
            _ => (false, 2),
        };
        let digits = b
            .get(start..)?
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 || b.get(start + digits) != Some(&b';') {
            return None;
        }
        let v = u32::from_str_radix(s.get(start..start + digits)?, if hex { 16 } else { 10 })
            .unwrap_or(u32::MAX);
        return Some((numeric_char(v), start + digits + 1));
    }
    let n = b
        .get(1..)?
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if n == 0 {
        return None;
    }
    if b.get(1 + n) == Some(&b';') {
        return named_entity(s.get(1..1 + n)?).map(|c| (c, n + 2));
    }
    // Browsers also accept a few references without `;` ("Tom &amp Jerry"), unless a name
    // character or `=` follows (query strings such as `?a=1&copy=2`).
    for legacy in ["amp", "lt", "gt", "quot", "nbsp", "copy", "reg"] {
        let next = b.get(1 + legacy.len());
        if s.get(1..1 + legacy.len()) == Some(legacy)
            && !next.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'=')
        {
            return named_entity(legacy).map(|c| (c, legacy.len() + 1));
        }
    }
    None
}

/// Numeric references as browsers read them: 128–159 are Windows-1252 (old posts pasted
/// from Word use `&#146;` for ’), invalid code points become U+FFFD.
fn numeric_char(v: u32) -> char {
    const CP1252: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let v = match v {
        0 => 0xFFFD,
        0x80..=0x9F => CP1252[(v - 0x80) as usize],
        _ => v,
    };
    char::from_u32(v).unwrap_or('\u{FFFD}')
}

/// The HTML 4 named references (what WordPress and its editors emit).
fn named_entity(n: &str) -> Option<char> {
    const LATIN1: [&str; 96] = [
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
        "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
        "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
        "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave",
        "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
        "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring",
        "aelig", "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc",
        "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash",
        "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
    ];
    const GREEK_UPPER: [&str; 25] = [
        "Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa",
        "Lambda", "Mu", "Nu", "Xi", "Omicron", "Pi", "Rho", "", "Sigma", "Tau", "Upsilon", "Phi",
        "Chi", "Psi", "Omega",
    ];
    const GREEK_LOWER: [&str; 25] = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
        "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigmaf", "sigma", "tau", "upsilon",
        "phi", "chi", "psi", "omega",
    ];
    let table = |t: &[&str], base: u32| {
        t.iter()
            .position(|x| *x == n)
            .and_then(|i| char::from_u32(base + i as u32))
    };
    if let Some(c) = table(&LATIN1, 160)
        .or_else(|| table(&GREEK_UPPER, 913))
        .or_else(|| table(&GREEK_LOWER, 945))
    {
        return Some(c);
    }
    let v: u32 = match n {
        "quot" => 34,
        "amp" => 38,
        "apos" => 39,
        "lt" => 60,
        "gt" => 62,
        "OElig" => 338,
        "oelig" => 339,
        "Scaron" => 352,
        "scaron" => 353,
        "Yuml" => 376,
        "fnof" => 402,
        "circ" => 710,
        "tilde" => 732,
        "thetasym" => 977,
        "upsih" => 978,
        "piv" => 982,
        "ensp" => 8194,
        "emsp" => 8195,
        "thinsp" => 8201,
        "zwnj" => 8204,
        "zwj" => 8205,
        "lrm" => 8206,
        "rlm" => 8207,
        "ndash" => 8211,
        "mdash" => 8212,
        "lsquo" => 8216,
        "rsquo" => 8217,
        "sbquo" => 8218,
        "ldquo" => 8220,
        "rdquo" => 8221,
        "bdquo" => 8222,
        "dagger" => 8224,
        "Dagger" => 8225,
        "bull" => 8226,
        "hellip" => 8230,
        "permil" => 8240,
        "prime" => 8242,
        "Prime" => 8243,
        "lsaquo" => 8249,
        "rsaquo" => 8250,
        "oline" => 8254,
        "frasl" => 8260,
        "euro" => 8364,
        "image" => 8465,
        "weierp" => 8472,
        "real" => 8476,
        "trade" => 8482,
        "alefsym" => 8501,
        "larr" => 8592,
        "uarr" => 8593,
        "rarr" => 8594,
        "darr" => 8595,
        "harr" => 8596,
        "crarr" => 8629,
        "lArr" => 8656,
        "uArr" => 8657,
        "rArr" => 8658,
        "dArr" => 8659,
        "hArr" => 8660,
        "forall" => 8704,
        "part" => 8706,
        "exist" => 8707,
        "empty" => 8709,
        "nabla" => 8711,
        "isin" => 8712,
        "notin" => 8713,
        "ni" => 8715,
        "prod" => 8719,
        "sum" => 8721,
        "minus" => 8722,
        "lowast" => 8727,
        "radic" => 8730,
        "prop" => 8733,
        "infin" => 8734,
        "ang" => 8736,
        "and" => 8743,
        "or" => 8744,
        "cap" => 8745,
        "cup" => 8746,
        "int" => 8747,
        "there4" => 8756,
        "sim" => 8764,
        "cong" => 8773,
        "asymp" => 8776,
        "ne" => 8800,
        "equiv" => 8801,
        "le" => 8804,
        "ge" => 8805,
        "sub" => 8834,
        "sup" => 8835,
        "nsub" => 8836,
        "sube" => 8838,
        "supe" => 8839,
        "oplus" => 8853,
        "otimes" => 8855,
        "perp" => 8869,
        "sdot" => 8901,
        "lceil" => 8968,
        "rceil" => 8969,
        "lfloor" => 8970,
        "rfloor" => 8971,
        "lang" => 0x27E8,
        "rang" => 0x27E9,
        "loz" => 9674,
        "spades" => 9824,
        "clubs" => 9827,
        "hearts" => 9829,
        "diams" => 9830,
        _ => return None,
    };
    char::from_u32(v)
}

/// Whether `s` (starting with `&`) would be read as a character reference by Markdown too,
/// so a decoded literal `&` must be escaped to stay literal.
fn entity_like(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.get(1..).unwrap_or(&[]);
    let n = if body.first() == Some(&b'#') {
        let hex = matches!(body.get(1), Some(b'x' | b'X'));
        let start = if hex { 2 } else { 1 };
        let d = body
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if d == 0 {
            return false;
        }
        start + d
    } else {
        let d = body
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if d == 0 {
            return false;
        }
        d
    };
    body.get(n) == Some(&b';')
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

type Attrs = Vec<(String, String)>;

enum Tok {
    /// Decoded text.
    Text(String),
    Start {
        name: String,
        attrs: Attrs,
        raw: String,
        self_closing: bool,
    },
    End {
        name: String,
        raw: String,
    },
    /// An element whose content is not markup (script, style, iframe, textarea…).
    RawText {
        name: String,
        raw_open: String,
        content: String,
        raw_close: String,
    },
    /// `<!DOCTYPE …>`, `<?php …?>`, `<![CDATA[…]]>`: no Markdown form.
    Markup(String),
    ScOpen {
        name: String,
        attrs: Attrs,
        raw: String,
        self_closing: bool,
        has_lt: bool,
    },
    ScClose {
        name: String,
        raw: String,
    },
}

const RAWTEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];
/// Shortcodes this converter renders.
const KNOWN_SC: &[&str] = &["caption", "wp_caption", "gallery", "embed"];
/// Names taken as shortcodes even without attributes (core and the common plugins), so the
/// report lists them; other bare `[word]` is ordinary bracketed text.
const COMMON_SC: &[&str] = &[
    "audio",
    "video",
    "playlist",
    "contact-form",
    "contact-form-7",
    "youtube",
    "vimeo",
    "soundcloud",
    "googlemaps",
    "gravityform",
    "code",
    "sourcecode",
    "slideshow",
    "twitter",
    "tweet",
    "instagram",
    "flickr",
    "polldaddy",
    "archives",
    "spotify",
    "slideshare",
    "scribd",
    "dailymotion",
    "wufoo",
];

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

fn find_byte(b: &[u8], from: usize, c: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&x| x == c)
        .map(|p| p + from)
}

fn find_seq(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

struct Lexer<'a> {
    s: &'a str,
    b: &'a [u8],
    last_gt: Option<usize>,
    last_dq: Option<usize>,
    last_sq: Option<usize>,
    last_rb: Option<usize>,
    /// Once a `<!--` had no `-->` after it, no later one has: skip the search.
    comment_unclosed_from: Option<usize>,
}

/// Splits the body into text, tags, comments (dropped here) and shortcodes.
fn lex(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let last = |c: u8| b.iter().rposition(|&x| x == c);
    let mut lx = Lexer {
        s,
        b,
        last_gt: last(b'>'),
        last_dq: last(b'"'),
        last_sq: last(b'\''),
        last_rb: last(b']'),
        comment_unclosed_from: None,
    };
    let mut toks = Vec::new();
    let (mut i, mut text_start) = (0usize, 0usize);
    while let Some(off) = b
        .get(i..)
        .and_then(|r| r.iter().position(|&c| c == b'<' || c == b'['))
    {
        i += off;
        let hit = if b[i] == b'<' {
            lx.angle(i)
        } else {
            lx.bracket(i)
        };
        let Some((tok, mut end)) = hit else {
            i += 1;
            continue;
        };
        if text_start < i {
            toks.push(Tok::Text(decode(&s[text_start..i])));
        }
        if let Some(tok) = tok {
            let tok = match tok {
                Tok::Start {
                    name,
                    raw,
                    self_closing: false,
                    ..
                } if RAWTEXT.contains(&name.as_str()) => {
                    let (cs, ce) = lx.find_close(end, &name).unwrap_or((b.len(), b.len()));
                    let t = Tok::RawText {
                        content: s[end..cs].to_string(),
                        raw_close: s[cs..ce].to_string(),
                        name,
                        raw_open: raw,
                    };
                    end = ce;
                    t
                }
                other => other,
            };
            toks.push(tok);
        }
        i = end;
        text_start = end;
    }
    if text_start < b.len() {
        toks.push(Tok::Text(decode(&s[text_start..])));
    }
    toks
}

impl Lexer<'_> {
    /// At a `<`: a comment (no token), a tag, or `None` when it is just text.
    fn angle(&mut self, i: usize) -> Option<(Option<Tok>, usize)> {
        let rest = self.b.get(i..)?;
        if rest.starts_with(b"<!--") {
            if self.comment_unclosed_from.is_some_and(|f| i >= f) {
                return None;
            }
            if rest[4..].starts_with(b">") {
                return Some((None, i + 5));
            }
            if rest[4..].starts_with(b"->") {
                return Some((None, i + 6));
            }
            return match find_seq(self.b, i + 4, b"-->") {
                Some(p) => Some((None, p + 3)),
                None => {
                    self.comment_unclosed_from = Some(i);
                    None
                }
            };
        }
        if self.last_gt.is_none_or(|g| g < i) {
            return None;
        }
        match rest.get(1) {
            Some(b'!' | b'?') => {
                let gt = find_byte(self.b, i + 2, b'>')?;
                Some((Some(Tok::Markup(self.s[i..=gt].to_string())), gt + 1))
            }
            Some(b'/') => {
                if !rest.get(2).is_some_and(u8::is_ascii_alphabetic) {
                    return None;
                }
                let n0 = i + 2;
                let mut p = n0;
                while p < self.b.len()
                    && !is_ws(self.b[p])
                    && self.b[p] != b'/'
                    && self.b[p] != b'>'
                {
                    p += 1;
                }
                let gt = find_byte(self.b, p, b'>')?;
                if gt - i > MAX_TAG {
                    return None;
                }
                let tok = Tok::End {
                    name: self.s[n0..p].to_ascii_lowercase(),
                    raw: self.s[i..=gt].to_string(),
                };
                Some((Some(tok), gt + 1))
            }
            Some(c) if c.is_ascii_alphabetic() => self.start_tag(i),
            _ => None,
        }
    }

    fn start_tag(&self, i: usize) -> Option<(Option<Tok>, usize)> {
        let (s, b) = (self.s, self.b);
        let len = b.len();
        let mut p = i + 1;
        while p < len && !is_ws(b[p]) && b[p] != b'/' && b[p] != b'>' {
            p += 1;
        }
        let name = s[i + 1..p].to_ascii_lowercase();
        let mut attrs: Attrs = Vec::new();
        let mut self_closing = false;
        loop {
            while p < len && is_ws(b[p]) {
                p += 1;
            }
            if p - i > MAX_TAG {
                return None;
            }
            match *b.get(p)? {
                b'>' => {
                    p += 1;
                    break;
                }
                b'/' => {
                    p += 1;
                    if b.get(p) == Some(&b'>') {
                        self_closing = true;
                        p += 1;
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            let a0 = p;
            p += 1;
            while p < len && !is_ws(b[p]) && !matches!(b[p], b'/' | b'>' | b'=') {
                p += 1;
            }
            let an = s.get(a0..p)?.to_ascii_lowercase();
            let mut q = p;
            while q < len && is_ws(b[q]) {
                q += 1;
            }
            let mut value = String::new();
            if b.get(q) == Some(&b'=') {
                p = q + 1;
                while p < len && is_ws(b[p]) {
                    p += 1;
                }
                match *b.get(p)? {
                    quote @ (b'"' | b'\'') => {
                        let last = if quote == b'"' {
                            self.last_dq
                        } else {
                            self.last_sq
                        };
                        if last.is_none_or(|l| l <= p) {
                            return None;
                        }
                        let close = find_byte(b, p + 1, quote)?;
                        value = decode(&s[p + 1..close]);
                        p = close + 1;
                    }
                    _ => {
                        let v0 = p;
                        while p < len && !is_ws(b[p]) && b[p] != b'>' {
                            p += 1;
                        }
                        value = decode(s.get(v0..p)?);
                    }
                }
            }
            if !attrs.iter().any(|(n, _)| *n == an) {
                attrs.push((an, value));
            }
        }
        let tok = Tok::Start {
            name,
            attrs,
            raw: s.get(i..p)?.to_string(),
            self_closing,
        };
        Some((Some(tok), p))
    }

    /// Where `</name` (any case) starts and its `>` ends, for raw-text elements.
    fn find_close(&self, from: usize, name: &str) -> Option<(usize, usize)> {
        let b = self.b;
        let mut j = from;
        loop {
            let p = find_seq(b, j, b"</")?;
            let (n0, n1) = (p + 2, p + 2 + name.len());
            if b.get(n0..n1)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
                && b.get(n1)
                    .is_none_or(|&c| is_ws(c) || c == b'>' || c == b'/')
            {
                let end = find_byte(b, n1, b'>').map_or(b.len(), |g| g + 1);
                return Some((p, end));
            }
            j = p + 2;
        }
    }

    /// At a `[`: a shortcode, an escaped `[[shortcode]]` (shown literally), or text.
    fn bracket(&self, i: usize) -> Option<(Option<Tok>, usize)> {
        if self.last_rb.is_none_or(|r| r < i) {
            return None;
        }
        if self.b.get(i + 1) == Some(&b'[') {
            if let Some((Tok::ScOpen { name, raw, .. }, end)) = self.shortcode(i + 1) {
                if KNOWN_SC.contains(&name.as_str()) && self.b.get(end) == Some(&b']') {
                    return Some((Some(Tok::Text(decode(&raw))), end + 1));
                }
            }
            return None;
        }
        self.shortcode(i).map(|(t, e)| (Some(t), e))
    }

    fn shortcode(&self, i: usize) -> Option<(Tok, usize)> {
        let (s, b) = (self.s, self.b);
        let mut p = i + 1;
        let closing = b.get(p) == Some(&b'/');
        if closing {
            p += 1;
        }
        let n0 = p;
        if !b.get(p).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'_' || b[p] == b'-') {
            p += 1;
        }
        let name = s[n0..p].to_string();
        if closing {
            if b.get(p) != Some(&b']') {
                return None;
            }
            let raw = s[i..=p].to_string();
            return Some((Tok::ScClose { name, raw }, p + 1));
        }
        match *b.get(p)? {
            b']' | b'/' => {}
            c if is_ws(c) => {}
            _ => return None,
        }
        let a0 = p;
        loop {
            match *b.get(p)? {
                b']' => break,
                b'[' => return None,
                _ => {}
            }
            if p - i > MAX_SHORTCODE {
                return None;
            }
            p += 1;
        }
        let mut inner = &s[a0..p];
        let self_closing = inner.trim_end().ends_with('/');
        if self_closing {
            inner = inner.trim_end().trim_end_matches('/');
        }
        let tok = Tok::ScOpen {
            name,
            attrs: shortcode_attrs(inner),
            raw: s[i..=p].to_string(),
            self_closing,
            has_lt: inner.contains('<'),
        };
        Some((tok, p + 1))
    }
}

/// Shortcode attributes the way WordPress's `shortcode_parse_atts` reads them: `a="x"`,
/// `a='x'`, `a=x`, and positional values (given an empty name).
fn shortcode_attrs(text: &str) -> Attrs {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    let quoted = |p: usize| -> (String, usize) {
        let q = b[p];
        let end = find_byte(b, p + 1, q).unwrap_or(b.len());
        (
            text.get(p + 1..end).unwrap_or("").to_string(),
            (end + 1).min(b.len()),
        )
    };
    let bare = |p: usize| -> (String, usize) {
        let mut e = p;
        while e < b.len() && !is_ws(b[e]) {
            e += 1;
        }
        (text.get(p..e).unwrap_or("").to_string(), e)
    };
    while p < b.len() {
        if is_ws(b[p]) {
            p += 1;
            continue;
        }
        if b[p] == b'"' || b[p] == b'\'' {
            let (v, e) = quoted(p);
            out.push((String::new(), v));
            p = e;
            continue;
        }
        let mut e = p;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_' || b[e] == b'-') {
            e += 1;
        }
        let mut q = e;
        while q < b.len() && is_ws(b[q]) {
            q += 1;
        }
        if e > p && b.get(q) == Some(&b'=') {
            let name = text[p..e].to_ascii_lowercase();
            q += 1;
            while q < b.len() && is_ws(b[q]) {
                q += 1;
            }
            let (v, end) = match b.get(q) {
                Some(b'"' | b'\'') => quoted(q),
                Some(_) => bare(q),
                None => (String::new(), q),
            };
            out.push((name, v));
            p = end;
        } else {
            let (v, end) = bare(p);
            out.push((String::new(), v));
            p = end.max(p + 1);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Tree
// ---------------------------------------------------------------------------------------

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "menu",
    "li",
    "blockquote",
    "pre",
    "listing",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "caption",
    "colgroup",
    "col",
    "hr",
    "figure",
    "figcaption",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "aside",
    "nav",
    "address",
    "center",
    "details",
    "summary",
    "hgroup",
];
/// Inline elements with a Markdown form (or a deliberate rendering).
const INLINE_TAGS: &[&str] = &[
    "em", "i", "cite", "dfn", "var", "strong", "b", "del", "s", "strike", "code", "tt", "kbd",
    "samp", "a", "img", "br", "wbr", "q",
];
/// Presentation-only elements: their content is shown, the markup has no Markdown form.
const TRANSPARENT_TAGS: &[&str] = &[
    "span", "font", "sup", "sub", "u", "ins", "mark", "small", "big", "abbr", "acronym", "time",
    "label", "nobr", "bdi", "bdo", "data",
];
const VOID_TAGS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen", "basefont", "frame",
];

fn is_transparent(name: &str) -> bool {
    TRANSPARENT_TAGS.contains(&name)
        || name.starts_with("o:")
        || name.starts_with("st1:")
        || name.starts_with("w:")
}

fn is_known_tag(name: &str) -> bool {
    BLOCK_TAGS.contains(&name)
        || INLINE_TAGS.contains(&name)
        || is_transparent(name)
        || name == "script"
        || name == "style"
}

struct Elem {
    name: String,
    /// A shortcode rather than an HTML element.
    sc: bool,
    /// A shortcode with a closing `[/name]` (its content is `children`).
    enclosing: bool,
    attrs: Attrs,
    raw_open: String,
    raw_close: String,
    children: Vec<Node>,
    /// Some descendant is block-level: inline renderings must not be used for it.
    has_block: bool,
}

impl Elem {
    fn new(name: String, attrs: Attrs, raw_open: String) -> Elem {
        Elem {
            name,
            sc: false,
            enclosing: false,
            attrs,
            raw_open,
            raw_close: String::new(),
            children: Vec::new(),
            has_block: false,
        }
    }

    fn is_block(&self) -> bool {
        if self.sc {
            KNOWN_SC.contains(&self.name.as_str())
        } else {
            BLOCK_TAGS.contains(&self.name.as_str())
        }
    }

    fn is(&self, name: &str) -> bool {
        !self.sc && self.name == name
    }

    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

enum Node {
    /// Decoded text.
    Text(String),
    /// Source text kept literally (markup that could not be placed).
    Raw(String),
    /// Content deliberately not shown (script, style): the report line.
    Dropped(String),
    Elem(Box<Elem>),
}

struct Builder {
    stack: Vec<Elem>,
    too_deep: bool,
}

/// Builds the element tree with the implied closings browsers apply (`<p>` before a block,
/// `<li>` before `<li>`, …), iteratively and at most `MAX_DEPTH` deep.
fn build(toks: Vec<Tok>) -> (Elem, bool) {
    // A shortcode encloses content only when its `[/name]` follows somewhere (WordPress).
    let mut enclosing = vec![false; toks.len()];
    let mut closes: HashSet<&str> = HashSet::new();
    for (k, t) in toks.iter().enumerate().rev() {
        match t {
            Tok::ScClose { name, .. } => {
                closes.insert(name.as_str());
            }
            Tok::ScOpen {
                name, self_closing, ..
            } => enclosing[k] = !self_closing && closes.contains(name.as_str()),
            _ => {}
        }
    }
    let mut b = Builder {
        stack: vec![Elem::new("#root".into(), Vec::new(), String::new())],
        too_deep: false,
    };
    for (k, tok) in toks.into_iter().enumerate() {
        match tok {
            Tok::Text(t) => b.text(t),
            Tok::Start {
                name,
                attrs,
                raw,
                self_closing,
            } => b.start(name, attrs, raw, self_closing),
            Tok::End { name, raw } => b.end(&name, raw),
            Tok::RawText {
                name,
                raw_open,
                content,
                raw_close,
            } => {
                if name == "script" || name == "style" {
                    let what = format!(
                        "{name} (dropped): {}",
                        excerpt(&format!("{raw_open}{content}"))
                    );
                    b.leaf(Node::Dropped(what));
                } else {
                    let mut e = Elem::new(name, Vec::new(), raw_open);
                    e.raw_close = raw_close;
                    if !content.is_empty() {
                        e.children.push(Node::Text(decode(&content)));
                    }
                    b.leaf(Node::Elem(Box::new(e)));
                }
            }
            Tok::Markup(raw) => b.leaf(Node::Elem(Box::new(Elem::new(
                "!markup".into(),
                Vec::new(),
                raw,
            )))),
            Tok::ScOpen {
                name,
                attrs,
                raw,
                self_closing,
                has_lt,
            } => {
                let encl = enclosing.get(k).copied().unwrap_or(false);
                let is_sc = KNOWN_SC.contains(&name.as_str())
                    || (!has_lt
                        && (encl
                            || self_closing
                            || attrs.iter().any(|(n, _)| !n.is_empty())
                            || name.contains(['-', '_'])
                            || COMMON_SC.contains(&name.as_str())));
                if !is_sc {
                    b.text(decode(&raw));
                    continue;
                }
                let mut e = Elem::new(name, attrs, raw);
                e.sc = true;
                e.enclosing = encl;
                if encl {
                    b.push(e);
                } else {
                    b.leaf(Node::Elem(Box::new(e)));
                }
            }
            Tok::ScClose { name, raw } => b.sc_close(&name, raw),
        }
    }
    b.pop_to(1);
    let too_deep = b.too_deep;
    let root = b
        .stack
        .pop()
        .unwrap_or_else(|| Elem::new("#root".into(), Vec::new(), String::new()));
    (root, too_deep)
}

impl Builder {
    fn top(&mut self) -> &mut Elem {
        if self.stack.is_empty() {
            self.stack
                .push(Elem::new("#root".into(), Vec::new(), String::new()));
        }
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    fn text(&mut self, t: String) {
        if t.is_empty() {
            return;
        }
        let top = self.top();
        if let Some(Node::Text(prev)) = top.children.last_mut() {
            prev.push_str(&t);
        } else {
            top.children.push(Node::Text(t));
        }
    }

    fn leaf(&mut self, n: Node) {
        let top = self.top();
        if let Node::Elem(e) = &n {
            if e.is_block() || e.has_block {
                top.has_block = true;
            }
        }
        top.children.push(n);
    }

    fn push(&mut self, e: Elem) {
        if self.stack.len() > MAX_DEPTH {
            self.too_deep = true;
            // Known markup is dropped (its content still follows); unknown stays visible.
            if e.sc || !is_known_tag(&e.name) {
                self.top().children.push(Node::Raw(e.raw_open));
            }
            return;
        }
        self.stack.push(e);
    }

    /// Closes the element at `idx` and everything opened inside it.
    fn pop_to(&mut self, idx: usize) {
        while self.stack.len() > idx.max(1) {
            if let Some(e) = self.stack.pop() {
                self.leaf(Node::Elem(Box::new(e)));
            }
        }
    }

    /// Closes the nearest open element named in `targets`, unless a `stops` element (or a
    /// shortcode) comes first.
    fn close_in(&mut self, targets: &[&str], stops: &[&str]) {
        for idx in (1..self.stack.len()).rev() {
            let e = &self.stack[idx];
            if !e.sc && targets.contains(&e.name.as_str()) {
                self.pop_to(idx);
                return;
            }
            if e.sc || stops.contains(&e.name.as_str()) {
                return;
            }
        }
    }

    fn start(&mut self, name: String, attrs: Attrs, raw: String, self_closing: bool) {
        if BLOCK_TAGS.contains(&name.as_str()) {
            self.close_in(
                &["p"],
                &["td", "th", "table", "caption", "button", "object"],
            );
        }
        match name.as_str() {
            "li" => self.close_in(
                &["li"],
                &[
                    "ul",
                    "ol",
                    "menu",
                    "table",
                    "td",
                    "th",
                    "blockquote",
                    "dl",
                    "figure",
                ],
            ),
            "dt" | "dd" => self.close_in(
                &["dt", "dd"],
                &["dl", "table", "td", "th", "ul", "ol", "blockquote"],
            ),
            "tr" => self.close_in(&["tr"], &["table"]),
            "td" | "th" => self.close_in(&["td", "th"], &["tr", "table"]),
            "thead" | "tbody" | "tfoot" => self.close_in(&["thead", "tbody", "tfoot"], &["table"]),
            "a" => self.close_in(&["a"], &["td", "th", "table", "p", "div", "li"]),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let n = self.stack.len();
                if n > 1
                    && !self.stack[n - 1].sc
                    && matches!(
                        self.stack[n - 1].name.as_str(),
                        "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                    )
                {
                    self.pop_to(n - 1);
                }
            }
            _ => {}
        }
        let e = Elem::new(name, attrs, raw);
        if self_closing || VOID_TAGS.contains(&e.name.as_str()) {
            self.leaf(Node::Elem(Box::new(e)));
        } else {
            self.push(e);
        }
    }

    fn end(&mut self, name: &str, raw: String) {
        if name == "br" {
            // Browsers read a stray `</br>` as `<br>`.
            self.leaf(Node::Elem(Box::new(Elem::new(
                "br".into(),
                Vec::new(),
                raw,
            ))));
            return;
        }
        let stops: &[&str] = match name {
            "table" | "thead" | "tbody" | "tfoot" | "tr" | "td" | "th" | "caption" => &["table"],
            "li" => &["ul", "ol", "menu", "table", "td", "th"],
            _ => &["table", "td", "th", "caption", "object", "button"],
        };
        for idx in (1..self.stack.len()).rev() {
            let e = &mut self.stack[idx];
            if e.is(name) {
                e.raw_close = raw;
                self.pop_to(idx);
                return;
            }
            if e.sc || stops.contains(&e.name.as_str()) {
                break;
            }
        }
        // A stray end tag of a known element carries no content; an unknown one stays visible.
        if !is_known_tag(name) {
            self.top().children.push(Node::Raw(raw));
        }
    }

    fn sc_close(&mut self, name: &str, raw: String) {
        for idx in (1..self.stack.len()).rev() {
            let e = &mut self.stack[idx];
            if e.sc && e.name == name {
                e.raw_close = raw;
                self.pop_to(idx);
                return;
            }
        }
        self.text(decode(&raw));
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BKind {
    Para,
    /// `marker`: the bullet (`-`/`*`) or the ordered delimiter (`.`/`)`); `interrupts`: it
    /// may directly follow a paragraph line (tight nesting) without turning into text.
    List {
        marker: char,
        interrupts: bool,
    },
    Other,
}

struct Block {
    md: String,
    kind: BKind,
}

impl Block {
    fn para(md: String) -> Block {
        Block {
            md,
            kind: BKind::Para,
        }
    }
}

/// A container being rendered: finished blocks plus the paragraph being collected.
#[derive(Default)]
struct Flow {
    blocks: Vec<Block>,
    inl: String,
    /// Kind of the block just before this container (adjacent lists must not merge).
    prev: Option<BKind>,
}

impl Flow {
    fn last_kind(&self) -> Option<BKind> {
        self.blocks.last().map(|b| b.kind).or(self.prev)
    }
}

/// Inline context: formatting already open, so the same delimiter is not nested.
#[derive(Clone, Copy, Default)]
struct Mode {
    em: bool,
    strong: bool,
    del: bool,
    link: bool,
}

fn join_blocks(blocks: &[Block]) -> String {
    let mut out = String::new();
    for (k, b) in blocks.iter().enumerate() {
        if k > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&b.md);
    }
    out
}

struct Renderer<'a> {
    atts: &'a dyn Attachments,
    images: Vec<String>,
    seen_images: HashSet<String>,
    unconverted: Vec<String>,
    seen_notes: HashSet<String>,
    fragment_depth: usize,
}

impl Renderer<'_> {
    fn note(&mut self, s: String) {
        if self.seen_notes.insert(s.clone()) {
            self.unconverted.push(s);
        }
    }

    fn add_image(&mut self, url: &str) {
        if self.seen_images.insert(url.to_string()) {
            self.images.push(url.to_string());
        }
    }

    fn note_unknown(&mut self, e: &Elem) {
        let line = if e.sc {
            format!("[{}]: {}", e.name, excerpt(&e.raw_open))
        } else if e.name == "!markup" {
            format!("markup: {}", excerpt(&e.raw_open))
        } else {
            format!("{}: {}", e.name, excerpt(&e.raw_open))
        };
        self.note(line);
    }

    fn flow_blocks(&mut self, nodes: &[Node], prev: Option<BKind>) -> Vec<Block> {
        let mut st = Flow {
            prev,
            ..Flow::default()
        };
        self.flow(nodes, &mut st);
        self.flush(&mut st);
        st.blocks
    }

    /// Ends the paragraph being collected (wpautop's implied `<p>`).
    fn flush(&mut self, st: &mut Flow) {
        let inl = std::mem::take(&mut st.inl);
        for p in paragraphs(&inl) {
            st.blocks.push(Block::para(p));
        }
    }

    fn flow(&mut self, nodes: &[Node], st: &mut Flow) {
        for (k, n) in nodes.iter().enumerate() {
            match n {
                Node::Text(t) => self.flow_text(t, ends_line(nodes.get(k + 1)), st),
                Node::Raw(r) => push_text(&mut st.inl, r),
                Node::Dropped(d) => self.note(d.clone()),
                Node::Elem(e) => self.flow_elem(e, st),
            }
        }
    }

    /// Text in a block container: blank lines end paragraphs, single newlines are `<br>`
    /// (wpautop), and a URL alone on its line is an oEmbed, shown as a link.
    fn flow_text(&mut self, t: &str, next_ends_line: bool, st: &mut Flow) {
        let lines: Vec<&str> = t.split('\n').collect();
        let mut newlines = 0usize;
        for (k, line) in lines.iter().enumerate() {
            if k > 0 {
                newlines += 1;
            }
            let content = line.trim_matches([' ', '\t', '\x0c']);
            if content.is_empty() {
                if !line.is_empty() {
                    push_text(&mut st.inl, " ");
                }
                continue;
            }
            if newlines >= 2 {
                self.flush(st);
            } else if newlines == 1 && !ends_with_br(&st.inl) {
                st.inl.push(BR);
            }
            newlines = 0;
            let at_line_start = {
                let tail = st.inl.trim_end_matches(' ');
                tail.is_empty() || tail.ends_with(BR)
            };
            let line_ends = k + 1 < lines.len() || next_ends_line;
            if at_line_start && line_ends && is_bare_url(content) {
                st.inl.push_str(&url_link(content));
            } else {
                push_text(&mut st.inl, line);
            }
        }
        if newlines >= 2 {
            self.flush(st);
        } else if newlines == 1 && !ends_with_br(&st.inl) {
            st.inl.push(BR);
        }
    }

    fn flow_elem(&mut self, e: &Elem, st: &mut Flow) {
        if e.sc {
            return self.flow_sc(e, st);
        }
        let name = e.name.as_str();
        if is_transparent(name) {
            return self.flow(&e.children, st);
        }
        if INLINE_TAGS.contains(&name) {
            if e.has_block && name == "a" {
                // A link around blocks: one paragraph of its own, the blocks as lines.
                self.flush(st);
                self.inline_elem(e, &mut st.inl, Mode::default());
                self.flush(st);
            } else if e.has_block && !matches!(name, "code" | "tt" | "kbd" | "samp") {
                self.flow(&e.children, st);
            } else {
                self.inline_elem(e, &mut st.inl, Mode::default());
            }
            return;
        }
        if BLOCK_TAGS.contains(&name) {
            self.flush(st);
            return self.block(e, st);
        }
        self.note_unknown(e);
        push_text(&mut st.inl, &e.raw_open);
        self.flow(&e.children, st);
        push_text(&mut st.inl, &e.raw_close);
    }

    fn flow_sc(&mut self, e: &Elem, st: &mut Flow) {
        if KNOWN_SC.contains(&e.name.as_str()) {
            if let Some(blocks) = self.sc_blocks(e) {
                self.flush(st);
                st.blocks.extend(blocks);
                return;
            }
        }
        self.note_unknown(e);
        push_text(&mut st.inl, &e.raw_open);
        self.flow(&e.children, st);
        push_text(&mut st.inl, &e.raw_close);
    }

    fn block(&mut self, e: &Elem, st: &mut Flow) {
        let name = e.name.as_str();
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = usize::from(name.as_bytes()[1] - b'0');
                if let Some(b) = self.heading(e, level) {
                    st.blocks.push(b);
                }
            }
            "ul" | "ol" | "menu" => {
                if let Some(b) = self.list(e, st.last_kind()) {
                    st.blocks.push(b);
                }
            }
            "blockquote" => {
                let inner = self.flow_blocks(&e.children, None);
                if !inner.is_empty() {
                    let md = join_blocks(&inner)
                        .split('\n')
                        .map(|l| {
                            if l.is_empty() {
                                ">".to_string()
                            } else {
                                format!("> {l}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    st.blocks.push(Block {
                        md,
                        kind: BKind::Other,
                    });
                }
            }
            "pre" | "listing" => {
                let b = self.code_block(e);
                st.blocks.push(b);
            }
            "table" => self.table(e, st),
            "hr" => st.blocks.push(Block {
                md: "---".into(),
                kind: BKind::Other,
            }),
            "dt" => {
                let mut s = String::new();
                self.inline(&e.children, &mut s, Mode::default());
                let mut w = String::new();
                emit_wrapped(&mut w, &s, "**");
                st.blocks
                    .extend(paragraphs(&w).into_iter().map(Block::para));
            }
            "figcaption" => {
                let b = self.emphasised(&e.children);
                st.blocks.extend(b);
            }
            _ => {
                let inner = self.flow_blocks(&e.children, st.last_kind());
                st.blocks.extend(inner);
            }
        }
    }

    /// A caption paragraph: the content in italics (nested italics suppressed).
    fn emphasised(&mut self, nodes: &[Node]) -> Vec<Block> {
        let mut s = String::new();
        self.inline(
            nodes,
            &mut s,
            Mode {
                em: true,
                ..Mode::default()
            },
        );
        emphasised_md(&s)
    }

    fn heading(&mut self, e: &Elem, level: usize) -> Option<Block> {
        let mut s = String::new();
        self.inline(&e.children, &mut s, Mode::default());
        let mut s = collapse_spaces(&s.replace(BR, " ")).trim().to_string();
        if s.trim_matches('\u{a0}').is_empty() {
            return None;
        }
        if s.ends_with('#') {
            // A trailing `#` run would be read as the optional closing sequence.
            let k = s.trim_end_matches('#').len();
            s.insert(k, '\\');
        }
        Some(Block {
            md: format!("{} {s}", "#".repeat(level)),
            kind: BKind::Other,
        })
    }

    fn list(&mut self, e: &Elem, prev: Option<BKind>) -> Option<Block> {
        let ordered = e.name == "ol";
        let (default, alt) = if ordered { ('.', ')') } else { ('-', '*') };
        // Two lists in a row would merge into one: the second uses the other marker.
        let marker = match prev {
            Some(BKind::List { marker, .. }) if marker == default => alt,
            _ => default,
        };
        let mut items: Vec<Vec<Block>> = Vec::new();
        let ch = &e.children;
        let mut k = 0;
        while k < ch.len() {
            if let Node::Elem(li) = &ch[k] {
                if li.is("li") {
                    items.push(self.flow_blocks(&li.children, None));
                    k += 1;
                    continue;
                }
            }
            // Content between items (invalid but common: a nested <ul> outside any <li>)
            // joins the item before it.
            let s = k;
            while k < ch.len() && !matches!(&ch[k], Node::Elem(li) if li.is("li")) {
                k += 1;
            }
            let run = &ch[s..k];
            if run
                .iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
            {
                continue;
            }
            let prev_in_item = items.last().and_then(|b| b.last()).map(|b| b.kind);
            let blocks = self.flow_blocks(run, prev_in_item);
            match items.last_mut() {
                Some(it) => it.extend(blocks),
                None => items.push(blocks),
            }
        }
        if items.is_empty() {
            return None;
        }
        let start: u64 = if ordered {
            e.attr("start")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .min(999_000_000)
        } else {
            0
        };
        let tight = items.iter().all(|blocks| {
            blocks.iter().skip(1).all(|b| {
                matches!(
                    b.kind,
                    BKind::List {
                        interrupts: true,
                        ..
                    }
                )
            })
        });
        let sep = if tight { "\n" } else { "\n\n" };
        let mut md = String::new();
        for (k, blocks) in items.iter().enumerate() {
            if k > 0 {
                md.push_str(sep);
            }
            let m = if ordered {
                format!(
                    "{}{marker}",
                    start.saturating_add(k as u64).min(999_999_999)
                )
            } else {
                marker.to_string()
            };
            let body = blocks
                .iter()
                .map(|b| b.md.as_str())
                .collect::<Vec<_>>()
                .join(sep);
            if body.is_empty() {
                md.push_str(&m);
                continue;
            }
            let pad = " ".repeat(m.len() + 1);
            for (j, line) in body.split('\n').enumerate() {
                if j == 0 {
                    md.push_str(&m);
                    md.push(' ');
                } else {
                    md.push('\n');
                    if line.is_empty() {
                        continue;
                    }
                    md.push_str(&pad);
                }
                md.push_str(line);
            }
        }
        let first_empty = items.first().is_none_or(|b| b.is_empty());
        Some(Block {
            md,
            kind: BKind::List {
                marker,
                interrupts: !first_empty && (!ordered || start == 1),
            },
        })
    }

    fn code_block(&mut self, e: &Elem) -> Block {
        let lang = code_lang(e);
        let mut t = String::new();
        self.text_content(&e.children, &mut t, true);
        let t = t.replace('\u{a0}', " ");
        let t = t.strip_prefix('\n').unwrap_or(&t);
        let mut lines: Vec<&str> = t
            .split('\n')
            .map(|l| l.trim_end_matches([' ', '\t']))
            .collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let body = lines.join("\n");
        let fence = "`".repeat((longest_run(&body, '`') + 1).max(3));
        let md = if body.is_empty() {
            format!("{fence}{lang}\n{fence}")
        } else {
            format!("{fence}{lang}\n{body}\n{fence}")
        };
        Block {
            md,
            kind: BKind::Other,
        }
    }

    fn table(&mut self, e: &Elem, st: &mut Flow) {
        if let Some(blocks) = self.simple_table(e) {
            st.blocks.extend(blocks);
            return;
        }
        self.note(format!(
            "table (irregular or nested, kept as paragraphs): {}",
            excerpt(&e.raw_open)
        ));
        let inner = self.flow_blocks(&e.children, st.last_kind());
        st.blocks.extend(inner);
    }

    /// A GFM table when every row has the same cells and no cell holds blocks; else `None`
    /// (checked before anything is rendered, so nothing is recorded twice).
    fn simple_table(&mut self, e: &Elem) -> Option<Vec<Block>> {
        let blank = |n: &Node| matches!(n, Node::Text(t) if t.trim().is_empty());
        let mut rows: Vec<&Elem> = Vec::new();
        let mut caption: Option<&Elem> = None;
        for n in &e.children {
            match n {
                n if blank(n) => {}
                Node::Elem(c) if c.is("tr") => rows.push(c),
                Node::Elem(c) if c.is("thead") || c.is("tbody") || c.is("tfoot") => {
                    for n2 in &c.children {
                        match n2 {
                            n2 if blank(n2) => {}
                            Node::Elem(tr) if tr.is("tr") => rows.push(tr),
                            _ => return None,
                        }
                    }
                }
                Node::Elem(c) if c.is("caption") && caption.is_none() => caption = Some(c),
                Node::Elem(c) if c.is("colgroup") || c.is("col") => {}
                _ => return None,
            }
        }
        let mut grid: Vec<Vec<&Elem>> = Vec::new();
        for tr in &rows {
            let mut cells = Vec::new();
            for n in &tr.children {
                match n {
                    n if blank(n) => {}
                    Node::Elem(c) if c.is("td") || c.is("th") => cells.push(&**c),
                    _ => return None,
                }
            }
            grid.push(cells);
        }
        let width = grid.first()?.len();
        if width == 0 || grid.iter().any(|r| r.len() != width) {
            return None;
        }
        for c in grid.iter().flatten() {
            let span = |k: &str| {
                c.attr(k)
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .unwrap_or(1)
            };
            if span("colspan") > 1
                || span("rowspan") > 1
                || (c.has_block && !only_para_blocks(&c.children))
            {
                return None;
            }
        }
        let mut blocks = Vec::new();
        if let Some(c) = caption {
            blocks.extend(self.emphasised(&c.children));
        }
        let mut md = String::new();
        for (r, cells) in grid.iter().enumerate() {
            let mut texts = Vec::new();
            for c in cells {
                let mut s = String::new();
                self.inline(&c.children, &mut s, Mode::default());
                texts.push(escape_pipes(collapse_spaces(&s.replace(BR, " ")).trim()));
            }
            if r > 0 {
                md.push('\n');
            }
            md.push_str(&format!("| {} |", texts.join(" | ")));
            if r == 0 {
                let aligns: Vec<&str> = cells.iter().map(|c| cell_align(c)).collect();
                md.push_str(&format!("\n| {} |", aligns.join(" | ")));
            }
        }
        blocks.push(Block {
            md,
            kind: BKind::Other,
        });
        Some(blocks)
    }

    /// Known shortcodes as blocks; `None` when this one cannot be converted.
    fn sc_blocks(&mut self, e: &Elem) -> Option<Vec<Block>> {
        match e.name.as_str() {
            "caption" | "wp_caption" => self.caption(e),
            "gallery" => Some(self.gallery(e)),
            "embed" => {
                let mut t = String::new();
                self.text_content(&e.children, &mut t, false);
                let url = t.trim();
                (e.enclosing && is_bare_url(url)).then(|| vec![Block::para(url_link(url))])
            }
            _ => None,
        }
    }

    /// `[caption]`: the image, then the caption as an italic paragraph of its own. The
    /// caption is the `caption` attribute (old form) or the text after the image (new form).
    fn caption(&mut self, e: &Elem) -> Option<Vec<Block>> {
        let att = e
            .attr("id")
            .and_then(|v| v.trim().strip_prefix("attachment_"))
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|id| self.atts.by_id(id));
        let cap_attr = e.attr("caption").map(str::trim).filter(|s| !s.is_empty());
        let img_idx = e.children.iter().position(is_image_node);
        let img_md = match img_idx {
            Some(i) => {
                let mut s = String::new();
                self.caption_image(&e.children[i], att.as_ref(), &mut s);
                Some(s)
            }
            None => att.as_ref().map(|a| {
                self.add_image(&a.url);
                image_md(&a.alt, &a.url, None)
            }),
        };
        let (before, after) = match img_idx {
            Some(i) => (&e.children[..i], &e.children[i + 1..]),
            None => (&e.children[..], &e.children[..0]),
        };
        let rest_mode = Mode {
            em: cap_attr.is_none(),
            ..Mode::default()
        };
        let mut rest = String::new();
        self.inline(before, &mut rest, rest_mode);
        self.inline(after, &mut rest, rest_mode);
        let mut blocks = Vec::new();
        if let Some(m) = img_md.filter(|m| !m.trim().is_empty()) {
            blocks.extend(paragraphs(&m).into_iter().map(Block::para));
        }
        match cap_attr {
            Some(c) => {
                blocks.extend(paragraphs(&rest).into_iter().map(Block::para));
                let cap = self.fragment(
                    c,
                    Mode {
                        em: true,
                        ..Mode::default()
                    },
                );
                blocks.extend(emphasised_md(&cap));
            }
            None => blocks.extend(emphasised_md(&rest)),
        }
        (!blocks.is_empty()).then_some(blocks)
    }

    /// The image of a caption: an `<img>` or `<a><img></a>`; a missing src comes from the
    /// attachment the caption names.
    fn caption_image(&mut self, n: &Node, att: Option<&Attachment>, out: &mut String) {
        let Node::Elem(e) = n else { return };
        if e.is("img") {
            return self.image(e, out, att);
        }
        let mut inner = String::new();
        for c in &e.children {
            match c {
                Node::Elem(i) if i.is("img") => self.image(i, &mut inner, att),
                other => self.inline(
                    std::slice::from_ref(other),
                    &mut inner,
                    Mode {
                        link: true,
                        ..Mode::default()
                    },
                ),
            }
        }
        match e.attr("href").map(str::trim).filter(|h| !h.is_empty()) {
            Some(href) => emit_link(out, &inner, href, e.attr("title")),
            None => out.push_str(&inner),
        }
    }

    /// `[gallery ids="…"]`: one paragraph per image, its caption in italics below.
    fn gallery(&mut self, e: &Elem) -> Vec<Block> {
        let mut blocks = Vec::new();
        let Some(ids) = e.attr("ids").or_else(|| e.attr("include")) else {
            self.note(format!(
                "[gallery] without ids (images not listed in the body): {}",
                excerpt(&e.raw_open)
            ));
            let mut s = String::new();
            push_text(&mut s, &e.raw_open);
            blocks.push(Block::para(s));
            return blocks;
        };
        let mut missing = Vec::new();
        for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match id.parse::<u64>().ok().and_then(|n| self.atts.by_id(n)) {
                Some(a) if !a.url.trim().is_empty() => {
                    self.add_image(&a.url);
                    blocks.push(Block::para(image_md(&a.alt, &a.url, None)));
                    if !a.caption.trim().is_empty() {
                        let cap = self.fragment(
                            &a.caption,
                            Mode {
                                em: true,
                                ..Mode::default()
                            },
                        );
                        blocks.extend(emphasised_md(&cap));
                    }
                }
                _ => missing.push(id.to_string()),
            }
        }
        if !missing.is_empty() {
            self.note(format!(
                "[gallery]: attachments {} not in the export: {}",
                missing.join(","),
                excerpt(&e.raw_open)
            ));
            let mut s = String::new();
            push_text(&mut s, &e.raw_open);
            blocks.push(Block::para(s));
        }
        if e.enclosing {
            blocks.extend(self.flow_blocks(&e.children, None));
        }
        blocks
    }

    /// An HTML fragment held in an attribute or an attachment caption, rendered inline.
    fn fragment(&mut self, html: &str, m: Mode) -> String {
        let mut s = String::new();
        if self.fragment_depth > 3 {
            push_text(&mut s, html);
            return s;
        }
        self.fragment_depth += 1;
        let (root, _) = build(lex(&normalize(html)));
        self.inline(&root.children, &mut s, m);
        self.fragment_depth -= 1;
        s
    }

    fn inline(&mut self, nodes: &[Node], out: &mut String, m: Mode) {
        for n in nodes {
            match n {
                Node::Text(t) => {
                    for (k, seg) in t.split('\n').enumerate() {
                        if k > 0 && !ends_with_br(out) {
                            out.push(BR);
                        }
                        push_text(out, seg);
                    }
                }
                Node::Raw(r) => push_text(out, r),
                Node::Dropped(d) => self.note(d.clone()),
                Node::Elem(e) => self.inline_elem(e, out, m),
            }
        }
    }

    fn inline_elem(&mut self, e: &Elem, out: &mut String, m: Mode) {
        if e.sc {
            if KNOWN_SC.contains(&e.name.as_str()) {
                if let Some(blocks) = self.sc_blocks(e) {
                    for b in blocks {
                        soft_br(out);
                        out.push_str(&b.md.replace("\\\n", "\0").replace('\n', "\0"));
                        soft_br(out);
                    }
                    return;
                }
            }
            self.note_unknown(e);
            push_text(out, &e.raw_open);
            self.inline(&e.children, out, m);
            push_text(out, &e.raw_close);
            return;
        }
        let name = e.name.as_str();
        match name {
            "em" | "i" | "cite" | "dfn" | "var" => {
                let m2 = Mode { em: true, ..m };
                self.wrap(e, out, m2, m.em, "*");
            }
            "strong" | "b" => {
                let m2 = Mode { strong: true, ..m };
                self.wrap(e, out, m2, m.strong, "**");
            }
            "del" | "s" | "strike" => {
                let m2 = Mode { del: true, ..m };
                self.wrap(e, out, m2, m.del, "~~");
            }
            "code" | "tt" | "kbd" | "samp" => {
                let mut t = String::new();
                self.text_content(&e.children, &mut t, false);
                out.push_str(&code_span(&t));
            }
            "a" => {
                let href = e.attr("href").map(str::trim).unwrap_or("");
                if href.is_empty() || m.link {
                    return self.inline(&e.children, out, m);
                }
                let mut inner = String::new();
                self.inline(&e.children, &mut inner, Mode { link: true, ..m });
                emit_link(out, &inner, href, e.attr("title"));
            }
            "img" => self.image(e, out, None),
            "br" => out.push(BR),
            "wbr" => {}
            "q" => {
                out.push('“');
                self.inline(&e.children, out, m);
                out.push('”');
            }
            "hr" => soft_br(out),
            "pre" | "listing" => {
                let mut t = String::new();
                self.text_content(&e.children, &mut t, false);
                soft_br(out);
                out.push_str(&code_span(&t));
                soft_br(out);
            }
            n if is_transparent(n) => self.inline(&e.children, out, m),
            n if BLOCK_TAGS.contains(&n) => {
                soft_br(out);
                self.inline(&e.children, out, m);
                soft_br(out);
            }
            _ => {
                self.note_unknown(e);
                push_text(out, &e.raw_open);
                self.inline(&e.children, out, m);
                push_text(out, &e.raw_close);
            }
        }
    }

    /// Emphasis-like wrapping; `already`: the same delimiter is open, so just the content.
    fn wrap(&mut self, e: &Elem, out: &mut String, m: Mode, already: bool, delim: &str) {
        if already {
            return self.inline(&e.children, out, m);
        }
        let mut inner = String::new();
        self.inline(&e.children, &mut inner, m);
        emit_wrapped(out, &inner, delim);
    }

    fn image(&mut self, e: &Elem, out: &mut String, fallback: Option<&Attachment>) {
        let src = ["src", "data-src", "data-lazy-src"]
            .iter()
            .find_map(|k| e.attr(k).map(str::trim).filter(|s| !s.is_empty()));
        let alt = e.attr("alt").unwrap_or("");
        let (src, alt) = match (src, fallback) {
            (Some(s), _) => (s.to_string(), alt.to_string()),
            (None, Some(a)) if !a.url.trim().is_empty() => {
                let alt = if alt.trim().is_empty() { &a.alt } else { alt };
                (a.url.trim().to_string(), alt.to_string())
            }
            _ => {
                self.note(format!("img without src: {}", excerpt(&e.raw_open)));
                push_text(out, &e.raw_open);
                return;
            }
        };
        self.add_image(&src);
        out.push_str(&image_md(&alt, &src, e.attr("title")));
    }

    /// Plain text of a subtree (for code): known inline markup dropped, unknown markup kept
    /// as typed (code authors mean it literally), `<br>` a newline in `pre`.
    fn text_content(&mut self, nodes: &[Node], out: &mut String, pre: bool) {
        for n in nodes {
            match n {
                Node::Text(t) | Node::Raw(t) => out.push_str(t),
                Node::Dropped(d) => self.note(d.clone()),
                Node::Elem(e) => {
                    if e.sc {
                        out.push_str(&e.raw_open);
                        self.text_content(&e.children, out, pre);
                        out.push_str(&e.raw_close);
                        continue;
                    }
                    match e.name.as_str() {
                        "br" => out.push(if pre { '\n' } else { ' ' }),
                        "hr" | "wbr" => {}
                        "img" => out.push_str(&e.raw_open),
                        n if is_known_tag(n) => {
                            self.text_content(&e.children, out, pre);
                            if pre
                                && matches!(
                                    n,
                                    "p" | "div"
                                        | "li"
                                        | "tr"
                                        | "h1"
                                        | "h2"
                                        | "h3"
                                        | "h4"
                                        | "h5"
                                        | "h6"
                                )
                            {
                                out.push('\n');
                            }
                        }
                        _ => {
                            out.push_str(&e.raw_open);
                            self.text_content(&e.children, out, pre);
                            out.push_str(&e.raw_close);
                        }
                    }
                }
            }
        }
    }
}

/// Whether a text node ending here ends its line (for the bare-URL rule).
fn ends_line(next: Option<&Node>) -> bool {
    match next {
        None => true,
        Some(Node::Elem(e)) => e.is("br") || e.is_block(),
        Some(Node::Text(t)) => t.starts_with('\n'),
        _ => false,
    }
}

fn is_image_node(n: &Node) -> bool {
    match n {
        Node::Elem(e) if e.is("img") => true,
        Node::Elem(e) if e.is("a") => e
            .children
            .iter()
            .any(|c| matches!(c, Node::Elem(i) if i.is("img"))),
        _ => false,
    }
}

/// Cells may hold `<p>`/`<div>` (flattened) but no lists, tables, quotes, code blocks.
fn only_para_blocks(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Elem(e) => {
            if e.sc {
                !e.is_block() && only_para_blocks(&e.children)
            } else if e.is_block() && !matches!(e.name.as_str(), "p" | "div") {
                false
            } else {
                !e.has_block || only_para_blocks(&e.children)
            }
        }
        _ => true,
    })
}

fn cell_align(c: &Elem) -> &'static str {
    let style = c
        .attr("style")
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace(' ', "");
    let a = c.attr("align").unwrap_or("").trim().to_ascii_lowercase();
    if a == "center" || style.contains("text-align:center") {
        ":---:"
    } else if a == "right" || style.contains("text-align:right") {
        "---:"
    } else if a == "left" || style.contains("text-align:left") {
        ":---"
    } else {
        "---"
    }
}

/// Info string for a fence: `language-x`/`lang-x` classes, SyntaxHighlighter's
/// `brush: x`, or a `lang` attribute, on the `pre` or its single `code`.
fn code_lang(e: &Elem) -> String {
    let code = e.children.iter().find_map(|n| match n {
        Node::Elem(c) if c.is("code") => Some(&**c),
        _ => None,
    });
    let mut found = None;
    for el in std::iter::once(e).chain(code) {
        if let Some(l) = el.attr("lang").or_else(|| el.attr("data-lang")) {
            found = Some(l.to_string());
            break;
        }
        let class = el.attr("class").unwrap_or("");
        if let Some(p) = class.find("brush:") {
            let rest = class[p + 6..].trim_start();
            found = Some(rest.split([';', ' ']).next().unwrap_or("").to_string());
            break;
        }
        if let Some(l) = class.split_whitespace().find_map(|c| {
            c.strip_prefix("language-")
                .or_else(|| c.strip_prefix("lang-"))
        }) {
            found = Some(l.to_string());
            break;
        }
    }
    found
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+#.-".contains(*c))
        .take(30)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Markdown text helpers
// ---------------------------------------------------------------------------------------

fn ends_with_br(s: &str) -> bool {
    s.trim_end_matches(' ').ends_with(BR)
}

/// A line break that does not stack (block edges inside inline content).
fn soft_br(out: &mut String) {
    if !out.is_empty() && !ends_with_br(out) {
        out.push(BR);
    }
}

/// Appends literal text: HTML whitespace collapsed, Markdown syntax escaped.
fn push_text(out: &mut String, s: &str) {
    for (i, c) in s.char_indices() {
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            if !matches!(out.chars().next_back(), Some(' ') | Some(BR)) {
                out.push(' ');
            }
            continue;
        }
        match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '_' => {
                // Between letters `_` cannot start or end emphasis: leave snake_case alone.
                let prev = out.chars().next_back();
                let next = s[i + 1..].chars().next();
                if prev.is_some_and(char::is_alphanumeric)
                    && next.is_some_and(char::is_alphanumeric)
                {
                    out.push('_');
                } else {
                    out.push_str("\\_");
                }
            }
            '&' if entity_like(&s[i..]) => out.push_str("\\&"),
            _ => out.push(c),
        }
    }
}

fn escape_text(s: &str) -> String {
    let mut out = String::new();
    push_text(&mut out, s);
    out.trim_matches(' ').to_string()
}

/// Splits collected inline Markdown into paragraphs: line breaks become `\` hard breaks, two
/// breaks in a row (`<br><br>`, empty lines) a new paragraph, and line starts that Markdown
/// would read as block syntax are escaped.
fn paragraphs(inl: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    for line in inl.split(BR) {
        let l = line.trim_matches(' ');
        if l.trim_matches([' ', '\u{a0}']).is_empty() {
            if !cur.is_empty() {
                out.push(cur.join("\\\n"));
                cur.clear();
            }
            continue;
        }
        cur.push(escape_line_start(l));
    }
    if !cur.is_empty() {
        out.push(cur.join("\\\n"));
    }
    out
}

fn escape_line_start(l: &str) -> String {
    match l.chars().next() {
        Some('#' | '>' | '-' | '+' | '=') => format!("\\{l}"),
        Some(c) if c.is_ascii_digit() => {
            let digits = l.bytes().take_while(u8::is_ascii_digit).count();
            match l.as_bytes().get(digits) {
                Some(b'.' | b')') if digits <= 9 => format!("{}\\{}", &l[..digits], &l[digits..]),
                _ => l.to_string(),
            }
        }
        _ => l.to_string(),
    }
}

/// `*text*` around content, with surrounding whitespace moved outside the delimiters
/// (CommonMark ignores `* text *`) and nothing for empty content.
fn emit_wrapped(out: &mut String, inner: &str, delim: &str) {
    let is_edge = |c: char| c == ' ' || c == BR || c == '\u{a0}';
    let core = inner.trim_matches(is_edge);
    let lead = &inner[..inner.len() - inner.trim_start_matches(is_edge).len()];
    let trail = &inner[inner.trim_end_matches(is_edge).len()..];
    push_edge(out, lead);
    if !core.is_empty() {
        out.push_str(delim);
        out.push_str(&collapse_brs(core));
        out.push_str(delim);
    }
    push_edge(out, trail);
}

fn push_edge(out: &mut String, ws: &str) {
    if ws.contains(BR) {
        soft_br(out);
    } else if ws.contains('\u{a0}') {
        out.push('\u{a0}');
    } else if !ws.is_empty() && !matches!(out.chars().next_back(), Some(' ') | Some(BR) | None) {
        out.push(' ');
    }
}

/// Runs of line breaks inside a span become one (a paragraph break there would split the
/// span's delimiters).
fn collapse_brs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == BR {
            let t = out.trim_end_matches(' ').len();
            out.truncate(t);
            if out.ends_with(BR) {
                continue;
            }
        } else if c == ' ' && out.ends_with(BR) {
            continue;
        }
        out.push(c);
    }
    out
}

fn emphasised_md(inline_md: &str) -> Vec<Block> {
    let mut w = String::new();
    emit_wrapped(&mut w, inline_md, "*");
    paragraphs(&collapse_brs(&w))
        .into_iter()
        .map(Block::para)
        .collect()
}

fn emit_link(out: &mut String, inner: &str, href: &str, title: Option<&str>) {
    let is_edge = |c: char| c == ' ' || c == BR;
    let core = inner.trim_matches(is_edge);
    if core.is_empty() {
        return;
    }
    push_edge(
        out,
        &inner[..inner.len() - inner.trim_start_matches(is_edge).len()],
    );
    out.push('[');
    out.push_str(&collapse_brs(core));
    out.push_str("](");
    out.push_str(&dest(href));
    out.push_str(&title_part(title));
    out.push(')');
    push_edge(out, &inner[inner.trim_end_matches(is_edge).len()..]);
}

fn image_md(alt: &str, src: &str, title: Option<&str>) -> String {
    format!(
        "![{}]({}{})",
        escape_text(alt),
        dest(src),
        title_part(title)
    )
}

/// A link destination: `<…>` form when it has spaces or parentheses, escapes so that
/// Markdown reads back exactly `url` (see [`rewrite_images`]).
fn dest(url: &str) -> String {
    let u: String = url.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let angle = u.is_empty()
        || u.chars().any(|c| {
            matches!(c, ' ' | '(' | ')' | '<' | '>') || c.is_whitespace() || c.is_control()
        });
    let mut out = String::with_capacity(u.len() + 2);
    if angle {
        out.push('<');
    }
    for (i, c) in u.char_indices() {
        match c {
            '\\' => out.push_str("\\\\"),
            '&' if entity_like(&u[i..]) => out.push_str("\\&"),
            '<' | '>' if angle => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if angle {
        out.push('>');
    }
    out
}

fn title_part(title: Option<&str>) -> String {
    let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) else {
        return String::new();
    };
    let mut out = String::from(" \"");
    for (i, c) in t.char_indices() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            '&' if entity_like(&t[i..]) => out.push_str("\\&"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_bare_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 10
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

/// `<URL>` (an autolink) where that reads back exactly, else `[URL](URL)`.
fn url_link(url: &str) -> String {
    if url.contains(['&', '\\', '`']) {
        format!("[{}]({})", escape_text(url), dest(url))
    } else {
        format!("<{url}>")
    }
}

fn code_span(t: &str) -> String {
    let mut c = String::with_capacity(t.len());
    for ch in t.chars() {
        if ch.is_ascii_whitespace() {
            if !c.ends_with(' ') {
                c.push(' ');
            }
        } else {
            c.push(ch);
        }
    }
    let c = c.trim();
    if c.is_empty() {
        return String::new();
    }
    let fence = "`".repeat(longest_run(c, '`') + 1);
    let pad = if c.starts_with('`') || c.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{c}{pad}{fence}")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// GFM splits table rows at every unescaped `|`, even inside code spans and links.
fn escape_pipes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut backslashes = 0;
    for c in s.chars() {
        if c == '|' && backslashes % 2 == 0 {
            out.push('\\');
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        out.push(c);
    }
    out
}

fn excerpt(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(80).collect();
    if flat.chars().count() > 80 {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------
// rewrite_images helpers
// ---------------------------------------------------------------------------------------

/// Drops blockquote markers, list markers and indentation before a line's content.
fn strip_block_prefixes(mut t: &str) -> &str {
    loop {
        let s = t.trim_start_matches(' ');
        if let Some(r) = s.strip_prefix('>') {
            t = r;
            continue;
        }
        if let Some(r) = s
            .strip_prefix("- ")
            .or_else(|| s.strip_prefix("* "))
            .or_else(|| s.strip_prefix("+ "))
        {
            t = r;
            continue;
        }
        let d = s.bytes().take_while(u8::is_ascii_digit).count();
        if d > 0 && d <= 9 {
            if let Some(r) = s[d..]
                .strip_prefix(". ")
                .or_else(|| s[d..].strip_prefix(") "))
            {
                t = r;
                continue;
            }
        }
        return s;
    }
}

fn fence_open(t: &str) -> Option<(u8, usize)> {
    let ch = *t.as_bytes().first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let n = t.bytes().take_while(|&c| c == ch).count();
    (n >= 3).then_some((ch, n))
}

fn rewrite_line(line: &str, map: &dyn Fn(&str) -> Option<String>, out: &mut String) {
    let b = line.as_bytes();
    let (mut i, mut last) = (0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => {
                let n = b[i..].iter().take_while(|&&c| c == b'`').count();
                let mut j = i + n;
                let mut close = None;
                while j < b.len() {
                    if b[j] == b'`' {
                        let m = b[j..].iter().take_while(|&&c| c == b'`').count();
                        if m == n {
                            close = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                i = close.unwrap_or(i + n);
            }
            b']' if b.get(i + 1) == Some(&b'(') => {
                let d0 = i + 2;
                match parse_dest(line, d0) {
                    Some((d1, url)) => {
                        if let Some(new) = map(&url) {
                            out.push_str(&line[last..d0]);
                            out.push_str(&dest(&new));
                            last = d1;
                        }
                        i = d1;
                    }
                    None => i = d0,
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&line[last..]);
}

/// The destination starting at `d0`: where it ends and its unescaped text.
fn parse_dest(line: &str, d0: usize) -> Option<(usize, String)> {
    let b = line.as_bytes();
    if b.get(d0) == Some(&b'<') {
        let mut j = d0 + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'>' => return Some((j + 1, unescape(line.get(d0 + 1..j)?))),
                b'<' | b'\n' => return None,
                _ => j += 1,
            }
        }
        return None;
    }
    let mut j = d0;
    let mut depth = 0usize;
    while j < b.len() {
        match b[j] {
            b'\\' => {
                j += 2;
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            c if c <= b' ' => break,
            _ => {}
        }
        j += 1;
    }
    let j = j.min(b.len());
    let raw = line.get(d0..j)?;
    (!raw.is_empty()).then(|| (j, unescape(raw)))
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n.is_ascii_punctuation() {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> HashMap<u64, Attachment> {
        HashMap::new()
    }

    fn md(body: &str) -> String {
        to_markdown(body, &none()).markdown
    }

    fn atts() -> HashMap<u64, Attachment> {
        let mut m = HashMap::new();
        m.insert(
            1,
            Attachment {
                url: "http://ex.com/a.jpg".into(),
                caption: "First <em>one</em>".into(),
                alt: "A".into(),
            },
        );
        m.insert(
            2,
            Attachment {
                url: "http://ex.com/b.jpg".into(),
                caption: String::new(),
                alt: String::new(),
            },
        );
        m
    }

    /// `<tag` outside code that Markdown would pass through as raw HTML (our renderer
    /// would then show it as text: a sign the conversion missed something).
    fn raw_html(markdown: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut fence = false;
        for line in markdown.lines() {
            if line.trim_start().starts_with("```") {
                fence = !fence;
                continue;
            }
            if fence {
                continue;
            }
            let b = line.as_bytes();
            let mut in_code = false;
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 1,
                    b'`' => in_code = !in_code,
                    b'<' if !in_code => {
                        let rest = &line[i + 1..];
                        if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                            && !rest.starts_with("http")
                        {
                            found.push(rest.chars().take(12).collect());
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        found
    }

    #[test]
    fn body_block_editor_comments_dropped() {
        assert_eq!(
            md("<!-- wp:paragraph --><p>Hi</p><!-- /wp:paragraph -->"),
            "Hi\n"
        );
        assert_eq!(md("Before<!--more-->after<!-- x -->"), "Beforeafter\n");
        assert_eq!(md("<!-- unterminated"), "\\<!-- unterminated\n");
    }

    #[test]
    fn body_implied_paragraphs_and_single_newline_breaks() {
        assert_eq!(
            md("First para.\n\nSecond line one\nline two"),
            "First para.\n\nSecond line one\\\nline two\n"
        );
        assert_eq!(md("a\r\n\r\n\r\nb\r\n"), "a\n\nb\n");
        assert_eq!(md("a\n  \t\nb"), "a\n\nb\n");
    }

    #[test]
    fn body_explicit_paragraphs_and_br() {
        assert_eq!(
            md("<p>One<br />Two</p><p>Three</p>"),
            "One\\\nTwo\n\nThree\n"
        );
        // wpautop adds no <br> after an existing one.
        assert_eq!(md("a<br />\nb"), "a\\\nb\n");
        // Two breaks in a row read as a paragraph gap.
        assert_eq!(md("a<br><br>b"), "a\n\nb\n");
        assert_eq!(md("<p>&nbsp;</p>\n<p>Real</p>"), "Real\n");
        assert_eq!(md("<div>Div text\n\nsecond</div>"), "Div text\n\nsecond\n");
    }

    #[test]
    fn body_blocks_are_not_wrapped() {
        assert_eq!(
            md("Intro\n<h2>Title</h2>\nText\n<ul>\n<li>a</li>\n</ul>\nEnd"),
            "Intro\n\n## Title\n\nText\n\n- a\n\nEnd\n"
        );
    }

    #[test]
    fn body_inline_formatting() {
        assert_eq!(
            md(
                "<em>a</em> <i>b</i> <strong>c</strong> <b>d</b> <del>e</del> <s>f</s> \
                <strike>g</strike> <span style=\"color:red\">h</span> <font color=red>i</font> \
                x<sup>2</sup> H<sub>2</sub>O <u>u</u>"
            ),
            "*a* *b* **c** **d** ~~e~~ ~~f~~ ~~g~~ h i x2 H2O u\n"
        );
        assert_eq!(md("a<em> b </em>c"), "a *b* c\n");
        assert_eq!(md("<em>x <i>y</i></em>"), "*x y*\n");
        assert_eq!(md("<strong><em>both</em></strong>"), "***both***\n");
        assert_eq!(md("<em> </em>x"), "x\n");
    }

    #[test]
    fn body_links() {
        assert_eq!(
            md("<a href=\"http://x.com/a\" title=\"T &amp; &quot;U&quot;\">t</a>"),
            "[t](http://x.com/a \"T & \\\"U\\\"\")\n"
        );
        assert_eq!(
            md("<a href=\"http://x.com/a b(c)\">sp</a>"),
            "[sp](<http://x.com/a b(c)>)\n"
        );
        assert_eq!(md("<a name=\"top\">anchor</a>"), "anchor\n");
        assert_eq!(
            md("<a href=\"http://x\"><div>Block</div><div>link</div></a>"),
            "[Block\\\nlink](http://x)\n"
        );
    }

    #[test]
    fn body_code_spans() {
        assert_eq!(md("<code>a`b</code>"), "``a`b``\n");
        assert_eq!(md("<code>`x</code>"), "`` `x ``\n");
        assert_eq!(md("<code>&lt;p&gt; *x*</code>"), "`<p> *x*`\n");
        assert_eq!(md("<kbd>Ctrl</kbd>+<kbd>C</kbd>"), "`Ctrl`+`C`\n");
    }

    #[test]
    fn body_headings() {
        assert_eq!(
            md("<h1>One</h1><h2>Two #</h2><h3>C# <em>rocks</em></h3><h6>Six</h6><h4> </h4>"),
            "# One\n\n## Two \\#\n\n### C# *rocks*\n\n###### Six\n"
        );
        assert_eq!(md("<h2>Heading<br/>two</h2>"), "## Heading two\n");
    }

    #[test]
    fn body_nested_lists() {
        let body = "<ul>\n<li>One</li>\n<li>Two\n<ul>\n<li>Two a</li>\n<li>Two b\n<ol>\n\
                    <li>deep</li></ol></li>\n</ul>\n</li>\n<li>Three</li>\n</ul>";
        assert_eq!(
            md(body),
            "- One\n- Two\n  - Two a\n  - Two b\n    1. deep\n- Three\n"
        );
        assert_eq!(
            md("<ol start=\"9\"><li>x</li><li>y</li></ol>"),
            "9. x\n10. y\n"
        );
        // A nested <ul> outside any <li> (old editors) joins the item before it.
        assert_eq!(
            md("<ul><li>a</li><ul><li>nested</li></ul><li>b</li></ul>"),
            "- a\n  - nested\n- b\n"
        );
    }

    #[test]
    fn body_lists_loose_and_adjacent() {
        assert_eq!(
            md("<ul><li><p>p1</p><p>p2</p></li><li>b</li></ul>"),
            "- p1\n\n  p2\n\n- b\n"
        );
        // An ordered list starting above 1 cannot follow a line directly.
        assert_eq!(
            md("<ul><li>a<ol start=\"5\"><li>five</li></ol></li></ul>"),
            "- a\n\n  5. five\n"
        );
        // Two lists in a row stay two lists.
        assert_eq!(
            md("<ul><li>a</li></ul><ul><li>b</li></ul><ol><li>c</li></ol><ol><li>d</li></ol>"),
            "- a\n\n* b\n\n1. c\n\n1) d\n"
        );
    }

    #[test]
    fn body_blockquotes() {
        assert_eq!(
            md("<blockquote><p>Para one</p><p>Para two</p><blockquote>Nested</blockquote></blockquote>"),
            "> Para one\n>\n> Para two\n>\n> > Nested\n"
        );
        assert_eq!(
            md("<blockquote>Line one\nline two</blockquote>"),
            "> Line one\\\n> line two\n"
        );
    }

    #[test]
    fn body_pre_becomes_fenced_code() {
        assert_eq!(
            md("<pre><code class=\"language-rust\">if (a &lt; b) {\n```\n}</code></pre>"),
            "````rust\nif (a < b) {\n```\n}\n````\n"
        );
        assert_eq!(
            md("<pre class=\"brush: php; gutter: false\">\n&lt;?php echo '*x*'; ?&gt;\n<b>kept</b>\n\n</pre>"),
            "```php\n<?php echo '*x*'; ?>\nkept\n```\n"
        );
        assert_eq!(
            md("<pre>a<br>b &amp; <x-y>c</x-y></pre>"),
            "```\na\nb & <x-y>c</x-y>\n```\n"
        );
    }

    #[test]
    fn body_hr_images_and_linked_image() {
        let c = to_markdown(
            "<hr />\n<img src=\"http://ex.com/x.jpg\" alt=\"An *alt*\" title=\"T\" />\n\n\
             <a href=\"http://ex.com/big.jpg\"><img src=\"http://ex.com/small.jpg\" alt=\"S\" /></a>",
            &none(),
        );
        assert_eq!(
            c.markdown,
            "---\n\n![An \\*alt\\*](http://ex.com/x.jpg \"T\")\n\n\
             [![S](http://ex.com/small.jpg)](http://ex.com/big.jpg)\n"
        );
        assert_eq!(c.images, ["http://ex.com/x.jpg", "http://ex.com/small.jpg"]);
    }

    #[test]
    fn body_img_without_src_kept_and_listed() {
        let c = to_markdown("<img alt=\"nosrc\">", &none());
        assert_eq!(c.markdown, "\\<img alt=\"nosrc\">\n");
        assert_eq!(c.unconverted, ["img without src: <img alt=\"nosrc\">"]);
    }

    #[test]
    fn body_simple_table_becomes_gfm() {
        let c = to_markdown(
            "<table>\n<thead><tr><th>A</th><th align=\"right\">B</th></tr></thead>\n<tbody>\
             <tr><td><p>1</p></td><td>a|b <code>x|y</code></td></tr></tbody></table>",
            &none(),
        );
        assert_eq!(
            c.markdown,
            "| A | B |\n| --- | ---: |\n| 1 | a\\|b `x\\|y` |\n"
        );
        assert!(c.unconverted.is_empty());
    }

    #[test]
    fn body_irregular_table_kept_and_listed() {
        let c = to_markdown(
            "<table><tr><td>1</td><td>2</td></tr><tr><td colspan=\"2\">3</td></tr></table>\
             <table><tr><td><ul><li>x</li></ul></td><td>y</td></tr></table>",
            &none(),
        );
        assert_eq!(c.markdown, "1\n\n2\n\n3\n\n- x\n\ny\n");
        assert_eq!(
            c.unconverted,
            ["table (irregular or nested, kept as paragraphs): <table>"]
        );
    }

    const SEED_CAPTION: &str = "[caption id=\"attachment_12\" align=\"alignnone\" width=\"300\" \
        caption=\"The Sage Gateshead Comusica. Photo: Mark Savage\"]<a href=\"http://ex.com/sage.jpg\">\
        <img class=\"size-medium wp-image-12\" title=\"sage\" src=\"http://ex.com/sage-300x200.jpg\" \
        alt=\"The Sage\" width=\"300\" height=\"200\" /></a>[/caption]";

    #[test]
    fn body_caption_old_form_seed() {
        let c = to_markdown(SEED_CAPTION, &none());
        assert_eq!(
            c.markdown,
            "[![The Sage](http://ex.com/sage-300x200.jpg \"sage\")](http://ex.com/sage.jpg)\n\n\
             *The Sage Gateshead Comusica. Photo: Mark Savage*\n"
        );
        assert_eq!(c.images, ["http://ex.com/sage-300x200.jpg"]);
        assert!(c.unconverted.is_empty());
        assert_eq!(
            split_credit("The Sage Gateshead Comusica. Photo: Mark Savage"),
            (
                "The Sage Gateshead Comusica".to_string(),
                Some("Mark Savage".to_string())
            )
        );
    }

    #[test]
    fn body_split_credit_variants() {
        let s = |c: &str| split_credit(c);
        let some = |a: &str, b: &str| (a.to_string(), Some(b.to_string()));
        assert_eq!(s("Sunset. Photo by Jane Doe."), some("Sunset", "Jane Doe"));
        assert_eq!(
            s("Sunset - Photograph: Jane Doe"),
            some("Sunset", "Jane Doe")
        );
        assert_eq!(s("Sunset, Image: NASA"), some("Sunset", "NASA"));
        assert_eq!(s("Sunset (Credit: Jane)"), some("Sunset", "Jane"));
        assert_eq!(s("Sunset © Jane Doe"), some("Sunset", "Jane Doe"));
        assert_eq!(s("Sunset (c) Jane Doe"), some("Sunset", "Jane Doe"));
        assert_eq!(s("Photo: Jane"), some("", "Jane"));
        assert_eq!(
            s("A telephoto: lens test"),
            ("A telephoto: lens test".to_string(), None)
        );
        assert_eq!(s("  Just a caption "), ("Just a caption".to_string(), None));
        assert_eq!(
            s("Empty credit. Photo:"),
            ("Empty credit. Photo:".to_string(), None)
        );
    }

    #[test]
    fn body_caption_inner_text_form() {
        let c = to_markdown(
            "[caption id=\"attachment_5\" align=\"aligncenter\" width=\"500\"]\
             <img src=\"http://ex.com/c.jpg\" alt=\"C\" /> A <em>lovely</em> view[/caption]",
            &none(),
        );
        assert_eq!(c.markdown, "![C](http://ex.com/c.jpg)\n\n*A lovely view*\n");
        assert_eq!(
            md("[caption]<img src=\"http://ex.com/c.jpg\" alt=\"C\" /> A <strong>bold</strong> one[/caption]"),
            "![C](http://ex.com/c.jpg)\n\n*A **bold** one*\n"
        );
    }

    #[test]
    fn body_caption_resolves_attachment_without_src() {
        let c = to_markdown(
            "[caption id=\"attachment_1\" width=\"300\"]<img alt=\"\" /> From attachment[/caption]\n\
             [caption id=\"attachment_2\"]<img src=\"http://ex.com/own.jpg\" alt=\"own\" /> Own src[/caption]",
            &atts(),
        );
        assert_eq!(
            c.markdown,
            "![A](http://ex.com/a.jpg)\n\n*From attachment*\n\n![own](http://ex.com/own.jpg)\n\n*Own src*\n"
        );
        assert_eq!(c.images, ["http://ex.com/a.jpg", "http://ex.com/own.jpg"]);
    }

    #[test]
    fn body_gallery_with_attachments() {
        let c = to_markdown(
            "[gallery ids=\"1,2\"]\n\n[gallery columns=\"2\" ids=\"2,3\"]",
            &atts(),
        );
        assert_eq!(
            c.markdown,
            "![A](http://ex.com/a.jpg)\n\n*First one*\n\n![](http://ex.com/b.jpg)\n\n\
             ![](http://ex.com/b.jpg)\n\n\\[gallery columns=\"2\" ids=\"2,3\"\\]\n"
        );
        assert_eq!(c.images, ["http://ex.com/a.jpg", "http://ex.com/b.jpg"]);
        assert_eq!(
            c.unconverted,
            ["[gallery]: attachments 3 not in the export: [gallery columns=\"2\" ids=\"2,3\"]"]
        );
    }

    #[test]
    fn body_gallery_without_ids_kept_and_listed() {
        let c = to_markdown("[gallery]", &atts());
        assert_eq!(c.markdown, "\\[gallery\\]\n");
        assert_eq!(
            c.unconverted,
            ["[gallery] without ids (images not listed in the body): [gallery]"]
        );
    }

    #[test]
    fn body_embed_and_bare_url() {
        assert_eq!(
            md("[embed]https://www.youtube.com/watch?v=abc_def[/embed]"),
            "<https://www.youtube.com/watch?v=abc_def>\n"
        );
        assert_eq!(
            md("Look:\nhttps://www.youtube.com/watch?v=abc_def\n\nhttps://vimeo.com/1?a=1&amp;b=2\n\nsee https://x.com inline"),
            "Look:\\\n<https://www.youtube.com/watch?v=abc_def>\n\n\
             [https://vimeo.com/1?a=1&b=2](https://vimeo.com/1?a=1&b=2)\n\nsee https://x.com inline\n"
        );
        assert_eq!(
            md("<figure class=\"wp-block-embed\"><div class=\"wp-block-embed__wrapper\">\nhttps://youtu.be/xyz\n</div></figure>"),
            "<https://youtu.be/xyz>\n"
        );
    }

    #[test]
    fn body_unknown_shortcode_and_iframe_kept_and_listed() {
        let c = to_markdown(
            "[contact-form-7 id=\"5\" title=\"Contact\"]\n\n\
             <iframe src=\"https://maps.google.com/x?a=1\" width=\"425\"></iframe>\n\n\
             [foo]inner <strong>bold</strong>[/foo] and [sic]",
            &none(),
        );
        assert_eq!(
            c.markdown,
            "\\[contact-form-7 id=\"5\" title=\"Contact\"\\]\n\n\
             \\<iframe src=\"https://maps.google.com/x?a=1\" width=\"425\">\\</iframe>\n\n\
             \\[foo\\]inner **bold**\\[/foo\\] and \\[sic\\]\n"
        );
        assert_eq!(
            c.unconverted,
            [
                "[contact-form-7]: [contact-form-7 id=\"5\" title=\"Contact\"]",
                "iframe: <iframe src=\"https://maps.google.com/x?a=1\" width=\"425\">",
                "[foo]: [foo]",
            ]
        );
    }

    #[test]
    fn body_script_and_style_dropped_and_listed() {
        let c = to_markdown(
            "<script>alert(1)</script><style>p{}</style>Visible",
            &none(),
        );
        assert_eq!(c.markdown, "Visible\n");
        assert_eq!(
            c.unconverted,
            [
                "script (dropped): <script>alert(1)",
                "style (dropped): <style>p{}"
            ]
        );
    }

    #[test]
    fn body_escaped_shortcodes_are_literal() {
        let c = to_markdown("[[caption]] and [[gallery ids=\"1\"]]", &atts());
        assert_eq!(c.markdown, "\\[caption\\] and \\[gallery ids=\"1\"\\]\n");
        assert!(c.unconverted.is_empty() && c.images.is_empty());
    }

    #[test]
    fn body_entities_decoded_and_markdown_escaped() {
        assert_eq!(
            md("Tom &amp; Jerry &lt;3 &#8217;&#x2019;&#146; x&hellip; &amp;copy; &amp fin"),
            "Tom & Jerry \\<3 ’’’ x… \\&copy; & fin\n"
        );
        assert_eq!(
            md("5 * 3 _under_ snake_case `tick` [link] |pipe| ~tilde~ # not heading"),
            "5 \\* 3 \\_under\\_ snake_case \\`tick\\` \\[link\\] \\|pipe\\| \\~tilde\\~ # not heading\n"
        );
        assert_eq!(
            md("# hash\n1. not list\n2010) year\n> not quote\n- not item\n+ plus\n=== eq"),
            "\\# hash\\\n1\\. not list\\\n2010\\) year\\\n\\> not quote\\\n\\- not item\\\n\\+ plus\\\n\\=== eq\n"
        );
        assert_eq!(md("&#0;&#x110000;&bogus;"), "\u{fffd}\u{fffd}\\&bogus;\n");
    }

    #[test]
    fn body_backslashes_kept() {
        assert_eq!(
            md("C:\\path\\to and \\*x\\*"),
            "C:\\\\path\\\\to and \\\\\\*x\\\\\\*\n"
        );
    }

    #[test]
    fn body_images_in_order_deduplicated() {
        let c = to_markdown(
            "<img src=\"http://ex.com/1.jpg\"> <img src=\"http://ex.com/2.jpg\">\n\
             [gallery ids=\"1\"] <img src=\"http://ex.com/1.jpg\"> <img data-src=\"http://ex.com/3.jpg\">",
            &atts(),
        );
        assert_eq!(
            c.images,
            [
                "http://ex.com/1.jpg",
                "http://ex.com/2.jpg",
                "http://ex.com/a.jpg",
                "http://ex.com/3.jpg"
            ]
        );
    }

    #[test]
    fn body_rewrite_images_replaces_targets_only() {
        let c = to_markdown(
            &format!(
                "{SEED_CAPTION}\n\nText http://ex.com/sage-300x200.jpg <code>](http://ex.com/sage.jpg)</code>\n\
                 <img src=\"http://ex.com/sp ace.jpg\" alt=\"s\">\n\
                 <pre>![x](http://ex.com/sage.jpg)</pre>"
            ),
            &none(),
        );
        let map = |u: &str| match u {
            "http://ex.com/sage-300x200.jpg" => Some("/photos/sage-small.jpg".to_string()),
            "http://ex.com/sage.jpg" => Some("/photos/sage.jpg".to_string()),
            "http://ex.com/sp ace.jpg" => Some("/photos/space (1).jpg".to_string()),
            _ => None,
        };
        assert_eq!(
            rewrite_images(&c.markdown, &map),
            "[![The Sage](/photos/sage-small.jpg \"sage\")](/photos/sage.jpg)\n\n\
             *The Sage Gateshead Comusica. Photo: Mark Savage*\n\n\
             Text http://ex.com/sage-300x200.jpg `](http://ex.com/sage.jpg)`\\\n\
             ![s](</photos/space (1).jpg>)\n\n\
             ```\n![x](http://ex.com/sage.jpg)\n```\n"
        );
        assert_eq!(rewrite_images(&c.markdown, &|_| None), c.markdown);
    }

    const REALISTIC: &str = "[caption id=\"attachment_12\" align=\"alignnone\" width=\"300\" \
caption=\"The Sage Gateshead Comusica. Photo: Mark Savage\"]<a href=\"http://example.com/wp-content/uploads/2010/05/sage.jpg\">\
<img class=\"size-medium wp-image-12\" title=\"sage\" src=\"http://example.com/wp-content/uploads/2010/05/sage-300x200.jpg\" \
alt=\"The Sage\" width=\"300\" height=\"200\" /></a>[/caption]

Last night&#8217;s concert at <strong>The Sage</strong> was &#8220;superb&#8221;&hellip;
Second line of the same paragraph.<!--more-->

<h3>The programme</h3>
<ul>
\t<li>Purcell &ndash; <em>Dido</em></li>
\t<li>Handel, arr. <a href=\"http://example.com/handel\" title=\"Handel's page\">G.F. Handel</a></li>
</ul>
<blockquote>Music is the space between the notes.</blockquote>
http://www.youtube.com/watch?v=abc_def

Tickets were &pound;15 (10% off for members) &amp; sold out.
[contact-form-7 id=\"5\" title=\"Contact\"]
<iframe src=\"http://maps.google.com/x\" width=\"425\"></iframe>
<p style=\"text-align: center;\">Centred <span style=\"color: #ff0000;\">red</span> text</p>
<table><tr><td>a</td><td>b</td></tr></table>";

    #[test]
    fn body_realistic_2010_post() {
        let c = to_markdown(REALISTIC, &none());
        assert_eq!(
            c.markdown,
            "[![The Sage](http://example.com/wp-content/uploads/2010/05/sage-300x200.jpg \"sage\")]\
(http://example.com/wp-content/uploads/2010/05/sage.jpg)

*The Sage Gateshead Comusica. Photo: Mark Savage*

Last night’s concert at **The Sage** was “superb”…\\
Second line of the same paragraph.

### The programme

- Purcell – *Dido*
- Handel, arr. [G.F. Handel](http://example.com/handel \"Handel's page\")

> Music is the space between the notes.

<http://www.youtube.com/watch?v=abc_def>

Tickets were £15 (10% off for members) & sold out.\\
\\[contact-form-7 id=\"5\" title=\"Contact\"\\]\\
\\<iframe src=\"http://maps.google.com/x\" width=\"425\">\\</iframe>

Centred red text

| a | b |
| --- | --- |
"
        );
        assert_eq!(
            c.images,
            ["http://example.com/wp-content/uploads/2010/05/sage-300x200.jpg"]
        );
        assert_eq!(c.unconverted.len(), 2);
    }

    #[test]
    fn body_output_has_no_raw_html() {
        for body in [
            REALISTIC,
            SEED_CAPTION,
            "<div><p>x</p><em><p>y</p></em></div>",
        ] {
            let c = to_markdown(body, &atts());
            assert_eq!(
                raw_html(&c.markdown),
                Vec::<String>::new(),
                "{}",
                c.markdown
            );
            for tag in [
                "<p", "<br", "<em", "<strong", "<a ", "<img", "<ul", "<li", "<div", "<span",
            ] {
                assert!(!c.markdown.contains(tag), "{tag} in {}", c.markdown);
            }
        }
    }

    #[test]
    fn body_deterministic() {
        let a = to_markdown(REALISTIC, &atts());
        let b = to_markdown(REALISTIC, &atts());
        assert_eq!(a, b);
        assert_eq!(md(""), "");
        assert_eq!(md(" \n\n "), "");
    }

    fn check_invariants(body: &str) -> Converted {
        let c = to_markdown(body, &atts());
        let m = &c.markdown;
        assert!(
            m.is_empty() || (m.ends_with('\n') && !m.ends_with("\n\n")),
            "{m:?}"
        );
        assert!(!m.contains(BR));
        for line in m.lines() {
            assert_eq!(
                line,
                line.trim_end_matches([' ', '\t']),
                "trailing space in {m:?}"
            );
        }
        c
    }

    #[test]
    fn body_deep_nesting_is_bounded() {
        let pairs = [
            ("<div>", "</div>"),
            ("<em>", "</em>"),
            ("<blockquote>", "</blockquote>"),
            ("<ul><li>", "</li></ul>"),
            ("<ol><li><p>", "</p></li></ol>"),
            ("<table><tr><td>", "</td></tr></table>"),
            ("<a href=\"x\">", "</a>"),
            ("<span>", "</span>"),
            ("<pre>", "</pre>"),
            ("<h2>", "</h2>"),
            ("<x-unknown>", "</x-unknown>"),
            ("[foo]", "[/foo]"),
            ("[caption]", "[/caption]"),
            ("<p>", "</p>"),
        ];
        for (open, close) in pairs {
            let body = format!("{}deep text{}", open.repeat(10_000), close.repeat(10_000));
            let c = check_invariants(&body);
            assert!(c.markdown.contains("deep text"), "{open}");
            let unclosed = format!("{}deep text", open.repeat(10_000));
            assert!(
                check_invariants(&unclosed).markdown.contains("deep text"),
                "{open}"
            );
        }
    }

    #[test]
    fn body_mutations_never_panic() {
        const SNIPPETS: &[&str] = &[
            "<",
            ">",
            "[",
            "]",
            "]]>",
            "<em>",
            "</em>",
            "<p>",
            "</p>",
            "<li>",
            "</ul>",
            "<pre>",
            "[caption]",
            "[/caption]",
            "[caption caption=\"x",
            "<!--",
            "-->",
            "&",
            "&#",
            "&#x110000;",
            "&amp",
            "\"",
            "'",
            "\n",
            "\n\n",
            "é",
            "🎉",
            "\\",
            "`",
            "<a href=\"",
            "<img src=",
            "[gallery ids=\"1,x,99999999999999999999\"]",
            "<table><tr><td>",
            "</td>",
            "<br>",
            "[embed]",
            "http://ex.com/x y",
            "<script>",
            "</script",
            "<![CDATA[",
            "<?",
            "|",
            "*",
            "_",
            "#",
            "1. ",
            "> ",
            "\0",
            "\r",
            "\u{a0}",
            "<o:p>",
            "</br>",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base: Vec<char> = REALISTIC.chars().collect();
        let mut cur = base.clone();
        for round in 0..2000 {
            if round % 50 == 0 {
                cur = base.clone();
            }
            for _ in 0..1 + next() % 4 {
                let len = cur.len().max(1);
                let at = (next() as usize) % len;
                match next() % 5 {
                    0 => {
                        let end = (at + (next() as usize) % 20).min(cur.len());
                        cur.drain(at.min(cur.len())..end);
                    }
                    1 => {
                        let s = SNIPPETS[(next() as usize) % SNIPPETS.len()];
                        let at = at.min(cur.len());
                        cur.splice(at..at, s.chars());
                    }
                    2 => {
                        let end = (at + (next() as usize) % 40).min(cur.len());
                        let piece: Vec<char> = cur[at.min(end)..end].to_vec();
                        cur.splice(end..end, piece);
                    }
                    3 => {
                        if let Some(c) = cur.get_mut(at) {
                            *c = ['<', '>', '[', ']', '&', '/', '"', '\'', '\n', '=']
                                [(next() as usize) % 10];
                        }
                    }
                    _ => cur.truncate(at.max(cur.len() / 2)),
                }
            }
            if cur.len() > 20_000 {
                cur.truncate(20_000);
            }
            let body: String = cur.iter().collect();
            let a = check_invariants(&body);
            assert_eq!(a, to_markdown(&body, &atts()), "not deterministic");
            let _ = rewrite_images(&a.markdown, &|u| Some(format!("/p/{u} ()<>")));
            let _ = split_credit(
                &body[..body.len().min(200)]
                    .chars()
                    .rev()
                    .collect::<String>(),
            );
        }
    }
}
