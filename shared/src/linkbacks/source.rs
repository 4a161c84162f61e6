//! What a source page shows: whether it really links to our post, and what to display under the
//! post ("Pingback from <title>" with a WordPress-style excerpt, plus the author and date when the
//! page marks them up as an `h-entry`).
//!
//! Both Pingback and Webmention require the receiver to check that the source links to the
//! target; a page that merely mentions the URL in a script or in prose does not count. The page
//! is a stranger's, so it is read with html5ever's tokenizer (no tree, no scripts, nothing
//! fetched) and an approximate open-element stack with fixed limits, and everything returned is
//! plain text: entities decoded, no markup, no control or bidi-override characters. The caller
//! escapes on render. Pure: no I/O.

use std::cell::RefCell;
use std::collections::HashMap;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// What a source page that links to us shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceSummary {
    /// The h-entry's `p-name` if present, else `<title>`; whitespace collapsed, at most
    /// [`TITLE_MAX`] characters.
    pub title: Option<String>,
    /// The h-entry's `p-author` h-card `p-name` (or the h-card's text if it has none).
    pub author_name: Option<String>,
    /// That h-card's `u-url`, absolute, http(s) only.
    pub author_url: Option<String>,
    /// The h-entry's `dt-published` as written (the `datetime` attribute, else the text).
    pub published: Option<String>,
    /// `"[…] text around the link […]"`, plain text.
    pub excerpt: String,
}

/// Longest title kept, in characters (longer ones are cut at a word and end in "…").
pub const TITLE_MAX: usize = 200;
const NAME_MAX: usize = 100;
const PUBLISHED_MAX: usize = 64;
const URL_MAX: usize = 2048;
/// Hrefs longer than this are not resolved (they cannot be our post's address).
const HREF_MAX: usize = 8 * 1024;
/// Characters of context on each side of the link in the excerpt.
const CONTEXT: usize = 100;
/// Characters of the link's own text kept in the excerpt.
const LINK_TEXT_MAX: usize = 200;
/// Open elements tracked; deeper nesting is read as flat text.
const STACK_MAX: usize = 512;
/// h-entries remembered (a feed page may hold many; the one holding the link is wanted).
const ENTRIES_MAX: usize = 64;
/// Bytes of text collected for one microformat property or the `<title>`.
const CAPTURE_MAX: usize = 4 * 1024;
/// The body is handed to the tokenizer in pieces of this many bytes.
const CHUNK: usize = 64 * 1024;

/// Reads a fetched source page. `None` when the page does not link to `target`, when the
/// content type is neither HTML nor plain text, or when `target` is not a URL.
///
/// An empty `content_type` is sniffed: HTML if the body starts with `<`, else plain text.
pub fn inspect(
    body: &str,
    content_type: &str,
    source_url: &str,
    target: &str,
) -> Option<SourceSummary> {
    let mut target_url = Url::parse(target.trim()).ok()?;
    target_url.set_fragment(None);
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => inspect_html(body, source_url, target_url),
        "text/plain" => inspect_text(body, target, &target_url),
        "" if body.trim_start().starts_with('<') => inspect_html(body, source_url, target_url),
        "" => inspect_text(body, target, &target_url),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Plain text

fn inspect_text(body: &str, target: &str, target_url: &Url) -> Option<SourceSummary> {
    let mut text = Text::new(usize::MAX);
    text.push_str(body);
    let text = text.s;
    let raw = target.trim();
    let raw = raw.split('#').next().unwrap_or(raw);
    let mut needles = vec![target_url.as_str()];
    if raw != target_url.as_str() && !raw.is_empty() {
        needles.push(raw);
    }
    let (start, end) = needles
        .iter()
        .filter_map(|n| find_whole_url(&text, n).map(|i| (i, i + n.len())))
        .min()?;
    Some(SourceSummary {
        excerpt: excerpt(&text, start, end),
        ..SourceSummary::default()
    })
}

/// The first place `needle` stands in `text` as a whole URL: not preceded by URL characters,
/// and followed by nothing but trailing punctuation or a fragment.
fn find_whole_url(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before_ok = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || "-._~:/?#@!$&+=%".contains(c)));
        let rest = &text[i + needle.len()..];
        let token_end = rest
            .find(|c: char| c.is_whitespace() || "<>\"`".contains(c))
            .unwrap_or(rest.len());
        let tail = rest[..token_end].trim_end_matches([
            '.', ',', ';', ':', '!', '?', ')', ']', '}', '\'', '"', '*', '_',
        ]);
        before_ok && (tail.is_empty() || tail.starts_with('#'))
    })
}

// ---------------------------------------------------------------------------------------------
// HTML

fn inspect_html(body: &str, source_url: &str, target: Url) -> Option<SourceSummary> {
    let source = Url::parse(source_url.trim()).ok();
    let sink = Sink(RefCell::new(Walker::new(source, target)));
    let input = BufferQueue::default();
    let mut rest = body;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        input.push_back(StrTendril::from_slice(head));
        rest = tail;
    }
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // Our sink never asks to run scripts or switch encodings, so one feed reads everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner().finish()
}

struct Sink(RefCell<Walker>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        self.0.borrow_mut().token(token)
    }
}

/// Where text inside a raw-text element (script, style, title, ...) goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Raw {
    Off,
    Skip,
    Title,
}

/// What a microformat root element is, for the properties inside it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    Entry(usize),
    AuthorCard(usize),
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Published,
    Author,
    CardName,
    CardUrl,
}

#[derive(Default)]
struct Prop {
    started: bool,
    value: Option<String>,
}

#[derive(Default)]
struct Entry {
    name: Prop,
    published: Prop,
    author: Prop,
    author_is_card: bool,
    card_name: Prop,
    card_url: Prop,
    /// `<a class="p-author h-card" href=...>`: the card's implied url.
    implied_url: Option<String>,
}

impl Entry {
    fn prop(&mut self, field: Field) -> &mut Prop {
        match field {
            Field::Name => &mut self.name,
            Field::Published => &mut self.published,
            Field::Author => &mut self.author,
            Field::CardName => &mut self.card_name,
            Field::CardUrl => &mut self.card_url,
        }
    }
}

struct Open {
    id: u32,
    name: String,
}

struct Capture {
    element: u32,
    entry: usize,
    field: Field,
    text: Text,
}

struct Found {
    start: usize,
    end: Option<usize>,
    /// The `<a>` element whose end closes the link text.
    element: Option<u32>,
    entry: Option<usize>,
}

/// Visible text with whitespace collapsed and control and bidi characters dropped.
struct Text {
    s: String,
    pending_space: bool,
    limit: usize,
}

impl Text {
    fn new(limit: usize) -> Self {
        Text {
            s: String::new(),
            pending_space: false,
            limit,
        }
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                self.space();
            } else if !is_stripped(c) {
                if self.s.len() >= self.limit {
                    return;
                }
                if self.pending_space {
                    self.s.push(' ');
                    self.pending_space = false;
                }
                self.s.push(c);
            }
        }
    }

    fn space(&mut self) {
        self.pending_space = !self.s.is_empty();
    }
}

struct Walker {
    source: Option<Url>,
    base: Option<Url>,
    base_seen: bool,
    target: Url,
    text: Text,
    raw: Raw,
    title: Option<String>,
    in_head: bool,
    template_depth: usize,
    stack: Vec<Open>,
    /// How many elements of each name are on `stack`, so that searching it for a name that is
    /// not open costs nothing (hostile pages repeat stray end tags).
    open_counts: HashMap<String, usize>,
    next_id: u32,
    roots: Vec<(u32, Root)>,
    entries: Vec<Entry>,
    captures: Vec<Capture>,
    found: Option<Found>,
}

impl Walker {
    fn new(source: Option<Url>, target: Url) -> Self {
        Walker {
            base: source.clone(),
            source,
            base_seen: false,
            target,
            text: Text::new(usize::MAX),
            raw: Raw::Off,
            title: None,
            in_head: false,
            template_depth: 0,
            stack: Vec::new(),
            open_counts: HashMap::new(),
            next_id: 0,
            roots: Vec::new(),
            entries: Vec::new(),
            captures: Vec::new(),
            found: None,
        }
    }

    fn token(&mut self, token: Token) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(t) => self.characters(&t),
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => return self.start_tag(&tag),
                TagKind::EndTag => self.end_tag(&tag),
            },
            _ => {}
        }
        TokenSinkResult::Continue
    }

    fn characters(&mut self, t: &str) {
        match self.raw {
            Raw::Skip => {}
            Raw::Title => {
                let title = self.title.get_or_insert_with(String::new);
                if title.len() < CAPTURE_MAX {
                    title.push_str(t);
                }
            }
            Raw::Off => {
                if self.template_depth > 0 {
                    return;
                }
                if self.in_head {
                    if t.trim().is_empty() {
                        return;
                    }
                    // Text in <head> starts the body, as in the HTML tree builder.
                    self.in_head = false;
                }
                self.text.push_str(t);
                for capture in &mut self.captures {
                    capture.text.push_str(t);
                }
            }
        }
    }

    fn space(&mut self) {
        self.text.space();
        for capture in &mut self.captures {
            capture.text.space();
        }
    }

    fn start_tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        let raw_kind = match name {
            "script" => Some(RawKind::ScriptData),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                Some(RawKind::Rawtext)
            }
            "textarea" => Some(RawKind::Rcdata),
            "title" if !self.in_foreign() => Some(RawKind::Rcdata),
            _ => None,
        };
        if let Some(kind) = raw_kind {
            self.raw = if name == "title" && self.title.is_none() && self.template_depth == 0 {
                Raw::Title
            } else {
                Raw::Skip
            };
            if self.raw == Raw::Title {
                self.title = Some(String::new());
            }
            self.space();
            return TokenSinkResult::RawData(kind);
        }
        if name == "template" {
            self.template_depth += 1;
            return TokenSinkResult::Continue;
        }
        if self.template_depth > 0 {
            return TokenSinkResult::Continue;
        }
        match name {
            "head" => self.in_head = true,
            "html" | "meta" | "link" | "base" | "basefont" | "bgsound" => {}
            _ => self.in_head = false,
        }
        if name == "base" && !self.base_seen {
            if let Some(href) = attr(tag, "href") {
                self.base_seen = true;
                let base = self.resolve_against(self.source.as_ref(), href);
                if let Some(base) = base.filter(is_http) {
                    self.base = Some(base);
                }
            }
        }
        if is_block(name) {
            self.space();
        }
        self.implied_ends(name);

        let void = is_void(name) || (tag.self_closing && self.in_foreign());
        let id = if void || self.stack.len() >= STACK_MAX {
            None
        } else {
            self.next_id = self.next_id.wrapping_add(1);
            self.stack.push(Open {
                id: self.next_id,
                name: name.to_string(),
            });
            match self.open_counts.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    self.open_counts.insert(name.to_string(), 1);
                }
            }
            Some(self.next_id)
        };

        self.microformats(tag, id);

        if self.found.is_none() && (name == "a" || name == "area") {
            if let Some(href) = attr(tag, "href") {
                if self.is_target(href) {
                    let start = self.text.s.len();
                    let entry = self.roots.iter().rev().find_map(|(_, r)| match r {
                        Root::Entry(i) => Some(*i),
                        _ => None,
                    });
                    self.found = Some(Found {
                        start,
                        end: if name == "a" && id.is_some() {
                            None
                        } else {
                            Some(start)
                        },
                        element: id.filter(|_| name == "a"),
                        entry,
                    });
                }
            }
        }
        TokenSinkResult::Continue
    }

    /// Start tags that close open elements without an end tag (the common cases only).
    fn implied_ends(&mut self, name: &str) {
        if closes_p(name) {
            if let Some(i) = self.in_scope("p", &["button"]) {
                self.pop_to(i);
            }
        }
        let (item, list): (&[&str], &[&str]) = match name {
            "li" => (&["li"], &["ul", "ol", "menu"]),
            "dd" | "dt" => (&["dd", "dt"], &["dl"]),
            "option" => (&["option"], &["select", "datalist", "optgroup"]),
            "tr" => (&["tr"], &["table", "tbody", "thead", "tfoot"]),
            "td" | "th" => (&["td", "th"], &["tr", "table"]),
            "a" => (&["a"], &[]),
            _ => return,
        };
        if !item.iter().any(|n| self.is_open(n)) {
            return;
        }
        let found = self.stack.iter().rposition(|o| {
            item.contains(&o.name.as_str())
                || list.contains(&o.name.as_str())
                || is_scope_boundary(&o.name)
        });
        if let Some(i) = found {
            if item.contains(&self.stack[i].name.as_str()) {
                if name == "a" {
                    self.remove_at(i);
                } else {
                    self.pop_to(i);
                }
            }
        }
    }

    /// Microformats2 properties and roots on an element; `id` is `None` for elements that are
    /// not on the stack (void or too deep), which can then only give attribute values.
    fn microformats(&mut self, tag: &Tag, id: Option<u32>) {
        let Some(class) = attr(tag, "class") else {
            return;
        };
        if class.len() > CAPTURE_MAX {
            return;
        }
        let classes: Vec<&str> = class.split_ascii_whitespace().collect();
        let has = |c: &str| classes.contains(&c);
        let is_root = classes.iter().any(|c| is_root_class(c));
        let name: &str = &tag.name;
        let mut root = None;
        match self.roots.last().map(|(_, r)| *r) {
            Some(Root::Entry(i)) => {
                if has("p-name") {
                    let value = p_attr_value(tag);
                    self.property(i, Field::Name, id, value);
                }
                if has("dt-published") {
                    let value = dt_attr_value(tag);
                    self.property(i, Field::Published, id, value);
                }
                if has("p-author") && !self.entries[i].author.started {
                    if is_root && has("h-card") {
                        root = Some(Root::AuthorCard(i));
                        let entry = &mut self.entries[i];
                        entry.author_is_card = true;
                        if name == "a" || name == "area" {
                            entry.implied_url = attr(tag, "href").map(str::to_string);
                        }
                        self.property(i, Field::Author, id, None);
                    } else {
                        let value = p_attr_value(tag);
                        self.property(i, Field::Author, id, value);
                    }
                }
            }
            Some(Root::AuthorCard(i)) => {
                if has("p-name") {
                    let value = p_attr_value(tag);
                    self.property(i, Field::CardName, id, value);
                }
                if has("u-url") {
                    let value = u_attr_value(tag);
                    self.property(i, Field::CardUrl, id, value);
                }
            }
            _ => {}
        }
        let Some(id) = id.filter(|_| is_root) else {
            return;
        };
        let in_entry = self
            .roots
            .iter()
            .any(|(_, r)| matches!(r, Root::Entry(_) | Root::AuthorCard(_)));
        let root = root.unwrap_or_else(|| {
            if has("h-entry") && !in_entry && self.entries.len() < ENTRIES_MAX {
                self.entries.push(Entry::default());
                Root::Entry(self.entries.len() - 1)
            } else {
                Root::Other
            }
        });
        self.roots.push((id, root));
    }

    /// Starts property `field` of entry `i` on element `id`: the attribute value if the element
    /// carries it in one, else its text once it closes. Only the first occurrence counts.
    fn property(&mut self, i: usize, field: Field, id: Option<u32>, value: Option<String>) {
        let prop = self.entries[i].prop(field);
        if prop.started {
            return;
        }
        prop.started = true;
        match (value, id) {
            (Some(v), _) => prop.value = Some(v),
            (None, None) => {}
            (None, Some(id)) => self.captures.push(Capture {
                element: id,
                entry: i,
                field,
                text: Text::new(CAPTURE_MAX),
            }),
        }
    }

    fn end_tag(&mut self, tag: &Tag) {
        let name: &str = &tag.name;
        if self.raw != Raw::Off {
            // In raw-text states the tokenizer only emits the element's own end tag.
            self.raw = Raw::Off;
            self.space();
            return;
        }
        if self.template_depth > 0 {
            if name == "template" {
                self.template_depth -= 1;
            }
            return;
        }
        match name {
            "head" => self.in_head = false,
            "br" => self.space(),
            _ => {}
        }
        if is_block(name) {
            self.space();
        }
        if is_special(name) {
            if let Some(i) = self.in_scope(name, &[]) {
                self.pop_to(i);
            }
        } else if is_formatting(name) {
            if let Some(i) = self.in_scope(name, &[]) {
                if self.stack[i + 1..].iter().any(|o| is_special(&o.name)) {
                    // The adoption agency algorithm, roughly: the formatting element ends
                    // here, the blocks opened inside it stay open.
                    self.remove_at(i);
                } else {
                    self.pop_to(i);
                }
            }
        } else if self.is_open(name) {
            for i in (0..self.stack.len()).rev() {
                if self.stack[i].name == name {
                    self.pop_to(i);
                    break;
                }
                if is_special(&self.stack[i].name) {
                    break;
                }
            }
        }
    }

    /// The index of the innermost open `name` not hidden behind a scope boundary.
    fn in_scope(&self, name: &str, extra_boundaries: &[&str]) -> Option<usize> {
        if !self.is_open(name) {
            return None;
        }
        for (i, open) in self.stack.iter().enumerate().rev() {
            if open.name == name {
                return Some(i);
            }
            if is_scope_boundary(&open.name) || extra_boundaries.contains(&open.name.as_str()) {
                return None;
            }
        }
        None
    }

    fn in_foreign(&self) -> bool {
        self.is_open("svg") || self.is_open("math")
    }

    fn is_open(&self, name: &str) -> bool {
        self.open_counts.get(name).is_some_and(|&n| n > 0)
    }

    fn pop_to(&mut self, i: usize) {
        while self.stack.len() > i {
            if let Some(open) = self.stack.pop() {
                self.closed(open);
            }
        }
    }

    fn remove_at(&mut self, i: usize) {
        if i < self.stack.len() {
            let open = self.stack.remove(i);
            self.closed(open);
        }
    }

    fn closed(&mut self, open: Open) {
        if let Some(n) = self.open_counts.get_mut(&open.name) {
            *n = n.saturating_sub(1);
        }
        let id = open.id;
        if let Some(found) = &mut self.found {
            if found.element == Some(id) && found.end.is_none() {
                found.end = Some(self.text.s.len());
            }
        }
        if let Some(pos) = self.roots.iter().rposition(|(r, _)| *r == id) {
            self.roots.remove(pos);
        }
        let mut k = 0;
        while k < self.captures.len() {
            if self.captures[k].element == id {
                let capture = self.captures.swap_remove(k);
                let prop = self.entries[capture.entry].prop(capture.field);
                if prop.value.is_none() && !capture.text.s.is_empty() {
                    prop.value = Some(capture.text.s);
                }
            } else {
                k += 1;
            }
        }
    }

    fn resolve_against(&self, base: Option<&Url>, href: &str) -> Option<Url> {
        if href.len() > HREF_MAX {
            return None;
        }
        match base {
            Some(base) => base.join(href).ok(),
            None => Url::parse(href).ok(),
        }
    }

    fn is_target(&self, href: &str) -> bool {
        match self.resolve_against(self.base.as_ref(), href) {
            Some(mut url) => {
                url.set_fragment(None);
                url == self.target
            }
            None => false,
        }
    }

    fn finish(mut self) -> Option<SourceSummary> {
        self.pop_to(0);
        let found = self.found.take()?;
        let end = found.end.unwrap_or(self.text.s.len());
        let excerpt = excerpt(&self.text.s, found.start, end);

        let page_title = self.title.as_deref().map(strip_tags);
        let entry = found
            .entry
            .or((!self.entries.is_empty()).then_some(0))
            .and_then(|i| self.entries.get(i));
        let mut summary = SourceSummary {
            title: None,
            author_name: None,
            author_url: None,
            published: None,
            excerpt,
        };
        if let Some(entry) = entry {
            summary.title = entry
                .name
                .value
                .as_deref()
                .and_then(|t| clean(t, TITLE_MAX));
            summary.published = entry
                .published
                .value
                .as_deref()
                .and_then(|t| clean(t, PUBLISHED_MAX));
            let name = if entry.author_is_card {
                entry
                    .card_name
                    .value
                    .as_deref()
                    .or(entry.author.value.as_deref())
            } else {
                entry.author.value.as_deref()
            };
            summary.author_name = name.and_then(|t| clean(t, NAME_MAX));
            if entry.author_is_card {
                summary.author_url = entry
                    .card_url
                    .value
                    .as_deref()
                    .or(entry.implied_url.as_deref())
                    .and_then(|href| self.resolve_against(self.base.as_ref(), href.trim()))
                    .filter(|u| is_http(u) && u.as_str().len() <= URL_MAX)
                    .map(String::from);
            }
        }
        if summary.title.is_none() {
            summary.title = page_title.as_deref().and_then(|t| clean(t, TITLE_MAX));
        }
        Some(summary)
    }
}

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| a.name.ns.is_empty() && &*a.name.local == name)
        .map(|a| &*a.value)
}

/// A `p-*` value an element carries in an attribute (microformats2 parsing rules).
fn p_attr_value(tag: &Tag) -> Option<String> {
    let from = match &*tag.name {
        "abbr" | "link" => "title",
        "data" | "input" => "value",
        "img" | "area" => "alt",
        _ => return None,
    };
    attr(tag, from).map(str::to_string)
}

/// A `dt-*` value an element carries in an attribute.
fn dt_attr_value(tag: &Tag) -> Option<String> {
    let from = match &*tag.name {
        "time" | "ins" | "del" => "datetime",
        "abbr" => "title",
        "data" | "input" => "value",
        _ => return None,
    };
    attr(tag, from).map(str::to_string)
}

/// A `u-*` value an element carries in an attribute.
fn u_attr_value(tag: &Tag) -> Option<String> {
    let from = match &*tag.name {
        "a" | "area" | "link" => "href",
        "img" | "audio" | "video" | "source" | "iframe" => "src",
        "object" => "data",
        _ => return None,
    };
    attr(tag, from).map(str::to_string)
}

/// A microformats2 root class name: `h-` and lowercase letters, digits, hyphens.
fn is_root_class(class: &str) -> bool {
    class.strip_prefix("h-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// Control characters and the invisible marks that reorder text (bidi overrides, isolates).
fn is_stripped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "image"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements whose boundaries separate words in the visible text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "br"
            | "caption"
            | "dd"
            | "details"
            | "dialog"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "li"
            | "main"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
            | "img"
            | "option"
            | "select"
            | "button"
            | "input"
            | "menu"
            | "search"
    )
}

/// Start tags that close an open `<p>`.
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dd"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "li"
            | "listing"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "search"
            | "section"
            | "summary"
            | "table"
            | "ul"
    )
}

fn is_scope_boundary(name: &str) -> bool {
    matches!(
        name,
        "applet"
            | "caption"
            | "html"
            | "table"
            | "td"
            | "th"
            | "marquee"
            | "object"
            | "template"
            | "svg"
            | "math"
    )
}

fn is_formatting(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "big"
            | "code"
            | "em"
            | "font"
            | "i"
            | "nobr"
            | "s"
            | "small"
            | "strike"
            | "strong"
            | "tt"
            | "u"
    )
}

/// The HTML "special" category (the parts that matter without a tree builder).
fn is_special(name: &str) -> bool {
    is_block(name)
        || is_scope_boundary(name)
        || matches!(
            name,
            "center"
                | "colgroup"
                | "dir"
                | "frameset"
                | "head"
                | "li"
                | "listing"
                | "select"
                | "textarea"
                | "xmp"
                | "plaintext"
        )
}

// ---------------------------------------------------------------------------------------------
// Text shaping

/// Removes anything that looks like a tag (`<b>`, `</p>`, `<!-- -->`, `<?x?>`), as PHP's
/// strip_tags would: `<title>` is raw text, so markup in it arrives literally.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let is_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if is_tag {
            match after.find('>') {
                Some(j) => rest = &after[j + 1..],
                None => return out,
            }
        } else {
            out.push('<');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Collapses whitespace, drops control and bidi characters, and cuts at a word to at most
/// `max` characters (ending in "…" when cut). `None` when nothing is left.
fn clean(s: &str, max: usize) -> Option<String> {
    let mut text = Text::new(s.len());
    text.push_str(s);
    let s = text.s;
    if s.is_empty() {
        return None;
    }
    let Some((cut, _)) = s.char_indices().nth(max) else {
        return Some(s);
    };
    let head = &s[..cut];
    let head = match head.rfind(' ') {
        Some(space) if space > 0 => &head[..space],
        _ => head,
    };
    Some(format!("{}…", head.trim_end()))
}

/// WordPress-style context around the link at `start..end` of the collapsed text `text`:
/// about [`CONTEXT`] characters each side, cut at words, "[…]" where text was left out.
fn excerpt(text: &str, start: usize, end: usize) -> String {
    let start = floor_boundary(text, start.min(text.len()));
    let end = floor_boundary(text, end.clamp(start, text.len()));

    // Before the link: the last CONTEXT characters, starting at a word.
    let before = &text[..start];
    let mut from = before
        .char_indices()
        .rev()
        .nth(CONTEXT - 1)
        .map_or(0, |(i, _)| i);
    if from > 0 && !before[..from].ends_with(' ') {
        from = match before[from..].find(' ') {
            Some(j) => from + j + 1,
            None => start,
        };
    }

    // The link text itself, at most LINK_TEXT_MAX characters.
    let link = &text[start..end];
    let mut link_end = match link.char_indices().nth(LINK_TEXT_MAX) {
        Some((i, _)) => {
            let cut = &link[..i];
            start + cut.rfind(' ').filter(|&j| j > 0).unwrap_or(i)
        }
        None => end,
    };
    if link_end > end {
        link_end = end;
    }

    // After the link: the next CONTEXT characters, ending at a word.
    let after = &text[link_end..];
    let mut to = match after.char_indices().nth(CONTEXT) {
        Some((i, _)) => link_end + i,
        None => text.len(),
    };
    if link_end == end && to < text.len() && !text[to..].starts_with(' ') {
        to = match text[link_end..to].rfind(' ') {
            Some(j) => link_end + j,
            None => link_end,
        };
    } else if link_end < end {
        // The link text itself was cut: stop there.
        to = link_end;
    }

    let core = text[from..to].trim();
    let mut out = String::new();
    if !text[..from].trim().is_empty() {
        out.push_str("[…]");
    }
    if !core.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(core);
    }
    if !text[to..].trim().is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("[…]");
    }
    out
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "https://them.example/blog/2024/note.html";
    const TARGET: &str = "https://ex.org/posts/a/";

    fn html(body: &str) -> Option<SourceSummary> {
        inspect(body, "text/html; charset=utf-8", SRC, TARGET)
    }

    fn page(title: &str, body: &str) -> String {
        format!("<!DOCTYPE html><html><head><meta charset=utf-8><title>{title}</title></head><body>{body}</body></html>")
    }

    #[test]
    fn title_from_title_element() {
        let s = html(&page(
            "  A   page\n about things ",
            "<p>See <a href=\"https://ex.org/posts/a/\">this</a>.</p>",
        ))
        .unwrap();
        assert_eq!(s.title.as_deref(), Some("A page about things"));
        assert_eq!(s.author_name, None);
        assert_eq!(s.excerpt, "See this.");
    }

    #[test]
    fn title_from_h_entry_p_name_overrides_title() {
        let body = "<article class=\"h-entry\"><h1 class=\"p-name\">The &amp; real\n title</h1>\
                    <div class=\"e-content\"><p>I liked <a href=\"/posts/a/\">nope</a> and \
                    <a href=\"https://ex.org/posts/a/\">this post</a>.</p></div></article>";
        let s = html(&page("Site name | The real title", body)).unwrap();
        assert_eq!(s.title.as_deref(), Some("The & real title"));
    }

    #[test]
    fn long_titles_are_cut_at_a_word() {
        let long = "word ".repeat(100);
        let s = html(&page(&long, "<a href=\"https://ex.org/posts/a/\">x</a>")).unwrap();
        let title = s.title.unwrap();
        assert!(title.chars().count() <= TITLE_MAX + 1, "{title}");
        assert!(title.ends_with("word…"), "{title}");
    }

    #[test]
    fn author_h_card_name_and_relative_url() {
        let body = "<article class=\"h-entry\">\
                    <a class=\"p-author h-card\" href=\"/jane\"><img class=\"u-photo\" src=\"/me.jpg\" alt=\"\">\
                    <span class=\"p-name\">Jane  Doe</span><span class=\"u-url\"></span></a>\
                    <div class=\"p-author h-card\"><span class=\"p-name\">Second author</span></div>\
                    <p class=\"e-content\">Linking to <a href=\"https://ex.org/posts/a/\">a post</a></p></article>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.author_name.as_deref(), Some("Jane Doe"));
        // The h-card's u-url had no attribute value: its (empty) text is ignored and the
        // card's implied url, the root <a href>, is used, resolved against the page.
        assert_eq!(s.author_url.as_deref(), Some("https://them.example/jane"));

        let body = "<div class=\"h-entry\"><span class=\"p-author h-card\">\
                    <a class=\"u-url p-name\" href=\"../../about/\">Jo</a></span>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.author_name.as_deref(), Some("Jo"));
        assert_eq!(s.author_url.as_deref(), Some("https://them.example/about/"));
    }

    #[test]
    fn author_h_card_without_p_name_uses_its_text() {
        let body = "<div class=\"h-entry\"><p>By <span class=\"p-author h-card\"> Sam <b>Smith</b> </span></p>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.author_name.as_deref(), Some("Sam Smith"));
        assert_eq!(s.author_url, None);
    }

    #[test]
    fn javascript_author_url_is_dropped() {
        let body = "<div class=\"h-entry\"><a class=\"p-author h-card u-url\" href=\"javascript:alert(1)\">Eve</a>\
                    <span class=\"p-author h-card\"><a class=\"u-url\" href=\"javascript:alert(2)\">x</a></span>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.author_name.as_deref(), Some("Eve"));
        assert_eq!(s.author_url, None);
        let body = "<div class=\"h-entry\"><span class=\"p-author h-card\"><a class=\"u-url p-name\" href=\" JavaScript:alert(2)\">Eve</a></span>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.author_name.as_deref(), Some("Eve"));
        assert_eq!(s.author_url, None);
    }

    #[test]
    fn published_from_datetime_attribute_else_text() {
        let body = "<div class=\"h-entry\"><time class=\"dt-published\" datetime=\"2024-03-01T10:00:00+01:00\">1 March</time>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.published.as_deref(), Some("2024-03-01T10:00:00+01:00"));
        let body = "<div class=\"h-entry\"><span class=\"dt-published\"> 2024-03-02 </span>\
                    <a href=\"https://ex.org/posts/a/\">x</a></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.published.as_deref(), Some("2024-03-02"));
    }

    #[test]
    fn the_h_entry_holding_the_link_is_used() {
        let body = "<div class=\"h-feed\">\
                    <div class=\"h-entry\"><h2 class=\"p-name\">First</h2><p>nothing</p></div>\
                    <div class=\"h-entry\"><h2 class=\"p-name\">Second</h2>\
                    <div class=\"h-cite\"><span class=\"p-name\">Quoted</span></div>\
                    <p><a href=\"https://ex.org/posts/a/\">x</a></p></div></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.title.as_deref(), Some("Second"));
    }

    #[test]
    fn excerpt_has_both_markers_when_cut() {
        let before = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.";
        let after = "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure.";
        let body = format!(
            "<p>{before}\n  <a href=\"https://ex.org/posts/a/\">the   Big Link Up</a> {after}</p>"
        );
        let s = html(&page("t", &body)).unwrap();
        assert!(s.excerpt.starts_with("[…] "), "{}", s.excerpt);
        assert!(s.excerpt.ends_with(" […]"), "{}", s.excerpt);
        assert!(
            s.excerpt.contains("magna aliqua. the Big Link Up Ut enim"),
            "{}",
            s.excerpt
        );
        let core = s
            .excerpt
            .trim_start_matches("[…] ")
            .trim_end_matches(" […]");
        // Cut at words: every word in the excerpt is a whole word of the page.
        let all = format!("{before} the Big Link Up {after}");
        let words: Vec<&str> = all.split(' ').collect();
        for w in core.split(' ') {
            assert!(words.contains(&w), "{w:?} in {}", s.excerpt);
        }
        let n = core.chars().count();
        assert!((150..=215).contains(&n), "{n}: {core}");
    }

    #[test]
    fn excerpt_without_marker_when_link_at_start() {
        let body = "<p><a href=\"https://ex.org/posts/a/\">Our post</a> is good. Short.</p>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.excerpt, "Our post is good. Short.");
        let after = "word ".repeat(60);
        let body = format!("<p><a href=\"https://ex.org/posts/a/\">Our post</a> {after}</p>");
        let s = html(&page("t", &body)).unwrap();
        assert!(s.excerpt.starts_with("Our post word"), "{}", s.excerpt);
        assert!(s.excerpt.ends_with("word […]"), "{}", s.excerpt);
    }

    #[test]
    fn excerpt_without_marker_when_link_at_end() {
        let before = "word ".repeat(60);
        let body = format!("<p>{before}<a href=\"https://ex.org/posts/a/\">our post</a></p><script>var x = 1;</script>");
        let s = html(&page("t", &body)).unwrap();
        assert!(s.excerpt.starts_with("[…] word"), "{}", s.excerpt);
        assert!(s.excerpt.ends_with("word our post"), "{}", s.excerpt);
    }

    #[test]
    fn relative_href_is_resolved_and_base_honoured() {
        let s = html(&page("t", "<a href=\"//ex.org/posts/a/\">x</a>"));
        assert!(s.is_some());
        let other_src = inspect(
            "<a href=\"/posts/a/\">x</a>",
            "text/html",
            "https://ex.org/posts/b/",
            TARGET,
        );
        assert!(other_src.is_some());
        let based = "<html><head><base href=\"https://ex.org/posts/\"></head><body><a href=\"a/\">x</a></body></html>";
        assert!(html(based).is_some());
        assert!(html(&page("t", "<a href=\"/posts/a/\">x</a>")).is_none());
    }

    #[test]
    fn fragment_is_ignored() {
        let s = html(&page(
            "t",
            "<p>Replying to <a href=\"https://ex.org/posts/a/#comments\">the comments</a></p>",
        ))
        .unwrap();
        assert_eq!(s.excerpt, "Replying to the comments");
        let s = inspect(
            "<a href=\"https://ex.org/posts/a/\">x</a>",
            "text/html",
            SRC,
            "https://ex.org/posts/a/#top",
        );
        assert!(s.is_some());
    }

    #[test]
    fn area_links_count() {
        let body = "<map><area href=\"https://ex.org/posts/a/\" alt=\"here\"></map><p>text</p>";
        assert!(html(&page("t", body)).is_some());
    }

    #[test]
    fn mentions_outside_links_do_not_count() {
        let body = "<p>I read https://ex.org/posts/a/ today.</p>\
                    <script>location = \"https://ex.org/posts/a/\"; document.write('<a href=\"https://ex.org/posts/a/\">x</a>')</script>\
                    <img src=\"https://ex.org/posts/a/\"><link href=\"https://ex.org/posts/a/\">\
                    <div data-href=\"https://ex.org/posts/a/\"></div><!-- <a href=\"https://ex.org/posts/a/\">c</a> -->\
                    <template><a href=\"https://ex.org/posts/a/\">t</a></template>\
                    <textarea><a href=\"https://ex.org/posts/a/\">t</a></textarea>\
                    <a href=\"https://ex.org/posts/a/more\">longer</a>";
        assert_eq!(html(&page("t", body)), None);
        assert_eq!(inspect(body, "image/png", SRC, TARGET), None);
    }

    #[test]
    fn plain_text_with_the_url() {
        let body = "Hello,\n\nI wrote about https://ex.org/posts/a/. Thanks!\n";
        let s = inspect(body, "text/plain; charset=utf-8", SRC, TARGET).unwrap();
        assert_eq!(s.title, None);
        assert_eq!(
            s.excerpt,
            "Hello, I wrote about https://ex.org/posts/a/. Thanks!"
        );
        let s = inspect(
            "(see https://ex.org/posts/a/#c1)",
            "text/plain",
            SRC,
            TARGET,
        );
        assert!(s.is_some());
    }

    #[test]
    fn plain_text_with_a_longer_url_only() {
        let body = "See https://ex.org/posts/a/more and https://ex.org/posts/a/?x=1 and x=https://ex.org/posts/a/";
        assert_eq!(inspect(body, "text/plain", SRC, TARGET), None);
    }

    #[test]
    fn markup_comes_back_as_plain_text() {
        let body = "<div class=\"h-entry\"><h1 class=\"p-name\">Hi <script>alert(1)</script><em>there</em></h1>\
                    <p>Before <script>alert(1)</script><style>p{}</style><b>bold</b> \
                    <a href=\"https://ex.org/posts/a/\"><img src=x onerror=alert(1)>link &lt;b&gt;</a>\u{202e}after\u{7}</p></div>";
        let s = html(&page("t", body)).unwrap();
        assert_eq!(s.title.as_deref(), Some("Hi there"));
        assert_eq!(s.excerpt, "Hi there Before bold link <b>after");
        assert!(!s.excerpt.contains("alert"));

        let s = html(&page(
            "Hello <b>world</b> <script>alert(1)</script> &amp; \u{202e}more",
            "<a href=\"https://ex.org/posts/a/\">x</a>",
        ))
        .unwrap();
        assert_eq!(s.title.as_deref(), Some("Hello world alert(1) & more"));
    }

    #[test]
    fn malformed_html_does_not_lose_the_link() {
        let body = "<p>unclosed <b><i>tags <div><p>nested <a href=\"https://ex.org/posts/a/\">link<p>after</span></div>";
        let s = html(body).unwrap();
        assert!(
            s.excerpt.starts_with("unclosed tags nested link"),
            "{}",
            s.excerpt
        );
        let deep = format!(
            "{}<a href=\"https://ex.org/posts/a/\">deep</a>",
            "<div><span>".repeat(5000)
        );
        assert!(html(&deep).is_some());
        let huge = format!(
            "<a href=\"{}\">x</a><a title=\"{}\" href=\"{TARGET}\">y</a>",
            "h".repeat(200_000),
            "t".repeat(200_000)
        );
        assert!(html(&huge).is_some());
    }

    #[test]
    fn bad_target_or_source_does_not_panic() {
        assert_eq!(
            inspect("<a href=x>x</a>", "text/html", SRC, "not a url"),
            None
        );
        assert!(inspect(
            "<a href=\"https://ex.org/posts/a/\">x</a>",
            "text/html",
            "",
            TARGET
        )
        .is_some());
        assert!(inspect("<a href=\"https://ex.org/posts/a/\">x</a>", "", "", TARGET).is_some());
        assert!(inspect("see https://ex.org/posts/a/", "", "", TARGET).is_some());
    }

    #[test]
    fn random_input_never_panics() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds = [
            page("t", "<div class=\"h-entry\"><h1 class=\"p-name\">N</h1><a class=\"p-author h-card\" href=\"/me\">Me</a><time class=\"dt-published\" datetime=\"2024\">x</time><p>Text <a href=\"https://ex.org/posts/a/\">link</a> more</p></div>"),
            "<svg><title>s</title><a href=\"https://ex.org/posts/a/\"/><style>x</style></svg><table><td><a href=/posts/a/>x</table>".to_string(),
            "<base href=\"https://ex.org/\"><a href=posts/a/>é ü 漢字 \u{202e}</a><script><!--<script></script>--></script>".to_string(),
        ];
        let pieces: &[&str] = &[
            "<",
            ">",
            "</",
            "<a href=\"https://ex.org/posts/a/\">",
            "</a>",
            "<p>",
            "<script>",
            "</script>",
            "<title>",
            "</title>",
            "<template>",
            "</template>",
            "<div class=\"h-entry p-author h-card p-name u-url dt-published\">",
            "&amp;",
            "&#x110000;",
            "&#0;",
            "&",
            "\"",
            "'",
            "=",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "\0",
            "\u{fffd}",
            "é",
            "\u{202e}",
            "\r\n",
            " ",
            "<svg>",
            "</svg>",
            "<plaintext>",
            "<a href=#>",
            "<base href=\"javascript:x\">",
            "<noscript>",
            "<textarea>",
            "<li>",
            "<table>",
            "</td>",
            "<b>",
            "</b>",
        ];
        for round in 0..2000 {
            let input = if round % 3 == 0 {
                // Pseudo-random text: printable ASCII, markup characters, and some non-ASCII.
                let len = (next() % 300) as usize;
                (0..len)
                    .map(|_| match next() % 8 {
                        0 => '<',
                        1 => '>',
                        2 => ['&', '"', '\'', '/', '=', '#'][(next() % 6) as usize],
                        3 => char::from_u32((next() % 0x3000) as u32).unwrap_or('\u{fffd}'),
                        _ => (b' ' + (next() % 95) as u8) as char,
                    })
                    .collect::<String>()
            } else {
                let mut s = seeds[round % seeds.len()].clone();
                for _ in 0..1 + next() % 8 {
                    let mut pos = (next() % (s.len() as u64 + 1)) as usize;
                    while !s.is_char_boundary(pos) {
                        pos -= 1;
                    }
                    match next() % 3 {
                        0 => s.insert_str(pos, pieces[(next() % pieces.len() as u64) as usize]),
                        1 => {
                            let mut end = (pos + (next() % 20) as usize).min(s.len());
                            while !s.is_char_boundary(end) {
                                end -= 1;
                            }
                            s.replace_range(pos..end, "");
                        }
                        _ => {
                            let copy_from = (next() % (s.len() as u64 + 1)) as usize;
                            let piece: String = s[floor_boundary(&s, copy_from)..]
                                .chars()
                                .take(30)
                                .collect();
                            s.insert_str(pos, &piece);
                        }
                    }
                }
                s
            };
            for content_type in ["text/html", "text/plain", ""] {
                if let Some(s) = inspect(&input, content_type, SRC, TARGET) {
                    for f in [&s.title, &s.author_name, &s.author_url, &s.published]
                        .into_iter()
                        .flatten()
                    {
                        assert!(!f.chars().any(is_stripped), "{f:?}");
                    }
                    assert!(!s.excerpt.chars().any(is_stripped), "{:?}", s.excerpt);
                }
            }
        }
    }
}
