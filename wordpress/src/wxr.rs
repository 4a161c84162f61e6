//! Streaming reader of WordPress export files (WXR 1.0, 1.1 and 1.2).
//!
//! An export can be hundreds of megabytes, so nothing here holds more than one entry (an
//! `<item>` with its meta and comments, or one author, category or tag) in memory: the file
//! is pulled through any [`BufRead`] and handed out entry by entry by [`Reader`].
//!
//! Elements are matched by resolved namespace, not by prefix, because real exports bind odd
//! prefixes (or re-bind `wp:` to something else); any namespace under
//! `http(s)://wordpress.org/export/` counts as WordPress's own.

use std::io::{self, BufRead, Read};

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Channel-level facts about the exported site, written by WordPress before any entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Site {
    pub title: String,
    pub link: String,
    pub description: String,
    pub base_site_url: String,
    pub base_blog_url: String,
    /// `None` when the file has no `<wp:wxr_version>` (old or hand-made exports).
    pub wxr_version: Option<String>,
    pub language: String,
}

/// A category, tag or other taxonomy term attached to an item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Term {
    /// `"category"`, `"post_tag"`, `"post_format"`, or a custom taxonomy (WXR 1.0's `"tag"`
    /// is normalised to `"post_tag"`).
    pub domain: String,
    pub nicename: String,
    pub name: String,
}

/// One `wp:postmeta` or `wp:commentmeta` pair; the value is kept byte-exact because it is
/// often PHP-serialised, where lengths count bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub author_email: String,
    pub author_url: String,
    pub author_ip: String,
    pub date: String,
    pub date_gmt: String,
    pub content: String,
    /// `"1"`, `"0"`, `"spam"`, `"trash"`, `"post-trashed"`.
    pub approved: String,
    /// `wp:comment_type`: `""`, `"comment"`, `"pingback"`, `"trackback"`.
    pub kind: String,
    pub parent: u64,
    pub user_id: u64,
    pub meta: Vec<Meta>,
}

/// A post, page, attachment, menu item or any other post type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    pub title: String,
    pub link: String,
    pub pub_date: String,
    pub creator: String,
    pub guid: String,
    pub description: String,
    /// `content:encoded`, exactly as stored by WordPress.
    pub content: String,
    /// `excerpt:encoded`, exactly as stored by WordPress.
    pub excerpt: String,
    pub post_id: u64,
    pub post_date: String,
    pub post_date_gmt: String,
    pub post_modified: String,
    pub post_modified_gmt: String,
    pub comment_status: String,
    pub ping_status: String,
    pub post_name: String,
    pub status: String,
    pub post_parent: u64,
    pub menu_order: i64,
    pub post_type: String,
    pub post_password: String,
    pub is_sticky: bool,
    pub attachment_url: String,
    pub terms: Vec<Term>,
    pub meta: Vec<Meta>,
    pub comments: Vec<Comment>,
}

impl Item {
    /// The first value stored under `key`, as WordPress's `get_post_meta(.., true)` would.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value.as_str())
    }
}

/// One top-level entry of the channel, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Item(Box<Item>),
    /// From `wp:category`, or a `wp:term` of taxonomy `category`.
    Category {
        nicename: String,
        name: String,
        parent: String,
    },
    /// From `wp:tag`, or a `wp:term` of taxonomy `post_tag`.
    Tag {
        slug: String,
        name: String,
    },
    Author {
        login: String,
        display_name: String,
    },
}

/// Where and why a file could not be read. Line and column are 1-based; the column counts
/// bytes, so it may run ahead of an editor's column on lines with non-ASCII text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct WxrError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Streaming reader: yields the channel's entries one at a time.
pub struct Reader<R: BufRead> {
    xml: NsReader<Counting<R>>,
    buf: Vec<u8>,
    encoding: Encoding,
    site: Site,
    /// The first entry, read by [`Reader::new`] so that `site()` is complete on return.
    pending: Option<Entry>,
    done: bool,
    /// Attributes of the last `<category>` start tag (kept here to keep [`Ev`] small).
    attrs: Vec<(Vec<u8>, String)>,
    /// Set after an `Empty` event was handed out as `Start`: the next event is its `End`.
    pending_end: bool,
}

impl<R: BufRead> Reader<R> {
    /// Reads up to the channel's first `<item>`/`<wp:*>` entry: fails with a [`WxrError`] if
    /// the file is not an RSS/WXR export (no `<rss>`/`<channel>`) or is malformed before
    /// that.
    pub fn new(r: R) -> Result<Self, WxrError> {
        let mut xml = NsReader::from_reader(Counting::new(r));
        let config = xml.config_mut();
        // Mismatched end tags must be errors, and `<a/>` must read like `<a></a>` so every
        // element is one Start…End pair for the walkers below.
        config.check_end_names = true;
        config.expand_empty_elements = true;
        // A stray `&` in hand-edited exports is kept as text rather than failing the import.
        config.allow_dangling_amp = true;
        let mut reader = Reader {
            xml,
            buf: Vec::new(),
            encoding: Encoding::Utf8,
            site: Site::default(),
            pending: None,
            done: false,
            attrs: Vec::new(),
            pending_end: false,
        };
        reader.prolog()?;
        reader.pending = reader.advance()?;
        Ok(reader)
    }

    /// Channel-level fields seen before the first entry (WordPress writes them first).
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Bytes consumed so far (for a progress bar).
    pub fn position(&self) -> u64 {
        self.xml.get_ref().pos
    }

    /// Up to and including `<rss><channel>`.
    fn prolog(&mut self) -> Result<(), WxrError> {
        loop {
            let at = self.xml.buffer_position();
            match self.next_ev()? {
                Ev::Decl(Some(label)) => {
                    self.encoding = Encoding::from_label(&label).ok_or_else(|| {
                        self.fail(
                            at,
                            format!("unsupported encoding {label:?}: re-save the export as UTF-8"),
                        )
                    })?;
                }
                Ev::Start {
                    ns: Ns::Rss,
                    qname,
                    local,
                } if &qname[local..] == b"rss" => break,
                Ev::Start { qname, .. } => {
                    return Err(self.fail(
                        at,
                        format!(
                            "not a WordPress export (WXR): the root element is <{}>, not <rss>",
                            show(&qname)
                        ),
                    ))
                }
                Ev::Text(t) if !t.trim().is_empty() => {
                    return Err(self.fail(
                        at,
                        "not a WordPress export (WXR): text before the root element",
                    ))
                }
                Ev::Eof => {
                    return Err(self.fail(at, "not a WordPress export (WXR): no <rss> element"))
                }
                _ => {}
            }
        }
        loop {
            let at = self.xml.buffer_position();
            match self.next_ev()? {
                Ev::Start {
                    ns: Ns::Rss,
                    qname,
                    local,
                } if &qname[local..] == b"channel" => return Ok(()),
                Ev::Start { qname, .. } => {
                    return Err(self.fail(
                        at,
                        format!(
                        "not a WordPress export (WXR): expected <channel> inside <rss>, found <{}>",
                        show(&qname)
                    ),
                    ))
                }
                Ev::End => {
                    return Err(
                        self.fail(at, "not a WordPress export (WXR): <rss> has no <channel>")
                    )
                }
                Ev::Eof => return Err(self.eof("<rss>")),
                _ => {}
            }
        }
    }

    /// The next entry of the channel, or `None` once the document has been read to its end.
    fn advance(&mut self) -> Result<Option<Entry>, WxrError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.next_ev()? {
                Ev::Start { ns, qname, local } => {
                    let name = &qname[local..];
                    match (ns, name) {
                        (Ns::Rss, b"item") => return Ok(Some(Entry::Item(Box::new(self.item()?)))),
                        (Ns::Rss, b"title") => self.site.title = self.text(Trim::Yes)?,
                        (Ns::Rss, b"link") => self.site.link = self.text(Trim::Yes)?,
                        (Ns::Rss, b"description") => {
                            self.site.description = self.text(Trim::Yes)?
                        }
                        (Ns::Rss, b"language") => self.site.language = self.text(Trim::Yes)?,
                        (Ns::Wp, b"wxr_version") => {
                            self.site.wxr_version = Some(self.text(Trim::Yes)?)
                        }
                        (Ns::Wp, b"base_site_url") => {
                            self.site.base_site_url = self.text(Trim::Yes)?
                        }
                        (Ns::Wp, b"base_blog_url") => {
                            self.site.base_blog_url = self.text(Trim::Yes)?
                        }
                        (Ns::Wp, b"author") => return self.author().map(Some),
                        (Ns::Wp, b"category") => return self.category().map(Some),
                        (Ns::Wp, b"tag") => return self.tag().map(Some),
                        (Ns::Wp, b"term") => {
                            if let Some(entry) = self.term()? {
                                return Ok(Some(entry));
                            }
                        }
                        _ => self.skip(&qname)?,
                    }
                }
                Ev::End => {
                    self.epilogue()?;
                    self.done = true;
                    return Ok(None);
                }
                Ev::Eof => return Err(self.eof("<channel>")),
                _ => {}
            }
        }
    }

    /// After `</channel>`: the rest of `<rss>`, then nothing but comments and whitespace,
    /// so that a truncated or concatenated file is reported rather than silently accepted.
    fn epilogue(&mut self) -> Result<(), WxrError> {
        loop {
            match self.next_ev()? {
                Ev::Start { qname, .. } => self.skip(&qname)?,
                Ev::End => break,
                Ev::Eof => return Err(self.eof("<rss>")),
                _ => {}
            }
        }
        loop {
            let at = self.xml.buffer_position();
            match self.next_ev()? {
                Ev::Start { qname, .. } => {
                    return Err(self.fail(
                        at,
                        format!("unexpected <{}> after the end of <rss>", show(&qname)),
                    ))
                }
                Ev::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    fn item(&mut self) -> Result<Item, WxrError> {
        let mut item = Item::default();
        // WXR 1.0 repeats each term with and without `nicename`; remember which nicenames
        // were only guessed from the name so the explicit one can replace them.
        let mut guessed: Vec<bool> = Vec::new();
        self.children("item", |r, ns, qname, local| {
            let name = &qname[local..];
            match (ns, name) {
                (Ns::Rss, b"title") => fill(&mut item.title, r.text(Trim::No)?),
                (Ns::Rss, b"link") => fill(&mut item.link, r.text(Trim::Yes)?),
                (Ns::Rss, b"pubDate") => fill(&mut item.pub_date, r.text(Trim::Yes)?),
                (Ns::Rss, b"guid") => fill(&mut item.guid, r.text(Trim::Yes)?),
                (Ns::Rss, b"description") => fill(&mut item.description, r.text(Trim::No)?),
                (Ns::Rss, b"category") => {
                    let (domain, nicename) = r.term_attrs();
                    let name = r.text(Trim::Yes)?;
                    add_term(&mut item.terms, &mut guessed, domain, nicename, name);
                }
                (Ns::Dc, b"creator") => fill(&mut item.creator, r.text(Trim::Yes)?),
                (Ns::Content, b"encoded") => fill(&mut item.content, r.text(Trim::No)?),
                (Ns::Excerpt, b"encoded") => fill(&mut item.excerpt, r.text(Trim::No)?),
                (Ns::Wp, b"post_id") => fill_num(&mut item.post_id, &r.text(Trim::Yes)?),
                (Ns::Wp, b"post_date") => fill(&mut item.post_date, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_date_gmt") => fill(&mut item.post_date_gmt, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_modified") => fill(&mut item.post_modified, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_modified_gmt") => {
                    fill(&mut item.post_modified_gmt, r.text(Trim::Yes)?)
                }
                (Ns::Wp, b"comment_status") => fill(&mut item.comment_status, r.text(Trim::Yes)?),
                (Ns::Wp, b"ping_status") => fill(&mut item.ping_status, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_name") => fill(&mut item.post_name, r.text(Trim::Yes)?),
                (Ns::Wp, b"status") => fill(&mut item.status, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_parent") => fill_num(&mut item.post_parent, &r.text(Trim::Yes)?),
                (Ns::Wp, b"menu_order") => {
                    let v = r.text(Trim::Yes)?;
                    if item.menu_order == 0 {
                        item.menu_order = v.parse().unwrap_or(0);
                    }
                }
                (Ns::Wp, b"post_type") => fill(&mut item.post_type, r.text(Trim::Yes)?),
                (Ns::Wp, b"post_password") => fill(&mut item.post_password, r.text(Trim::Yes)?),
                (Ns::Wp, b"is_sticky") => {
                    item.is_sticky |= r.text(Trim::Yes)?.parse::<i64>().is_ok_and(|n| n != 0)
                }
                (Ns::Wp, b"attachment_url") => fill(&mut item.attachment_url, r.text(Trim::Yes)?),
                (Ns::Wp, b"postmeta") => item.meta.push(r.meta("wp:postmeta")?),
                (Ns::Wp, b"comment") => item.comments.push(r.comment()?),
                _ => r.skip(qname)?,
            }
            Ok(())
        })?;
        Ok(item)
    }

    fn comment(&mut self) -> Result<Comment, WxrError> {
        let mut c = Comment::default();
        self.children("wp:comment", |r, ns, qname, local| {
            if ns != Ns::Wp {
                return r.skip(qname);
            }
            match &qname[local..] {
                b"comment_id" => fill_num(&mut c.id, &r.text(Trim::Yes)?),
                b"comment_author" => fill(&mut c.author, r.text(Trim::Yes)?),
                b"comment_author_email" => fill(&mut c.author_email, r.text(Trim::Yes)?),
                b"comment_author_url" => fill(&mut c.author_url, r.text(Trim::Yes)?),
                b"comment_author_IP" => fill(&mut c.author_ip, r.text(Trim::Yes)?),
                b"comment_date" => fill(&mut c.date, r.text(Trim::Yes)?),
                b"comment_date_gmt" => fill(&mut c.date_gmt, r.text(Trim::Yes)?),
                b"comment_content" => fill(&mut c.content, r.text(Trim::No)?),
                b"comment_approved" => fill(&mut c.approved, r.text(Trim::Yes)?),
                b"comment_type" => fill(&mut c.kind, r.text(Trim::Yes)?),
                b"comment_parent" => fill_num(&mut c.parent, &r.text(Trim::Yes)?),
                b"comment_user_id" => fill_num(&mut c.user_id, &r.text(Trim::Yes)?),
                b"commentmeta" => c.meta.push(r.meta("wp:commentmeta")?),
                _ => r.skip(qname)?,
            }
            Ok(())
        })?;
        Ok(c)
    }

    fn meta(&mut self, container: &str) -> Result<Meta, WxrError> {
        let mut m = Meta::default();
        self.children(container, |r, ns, qname, local| {
            match (ns, &qname[local..]) {
                (Ns::Wp, b"meta_key") => fill(&mut m.key, r.text(Trim::Yes)?),
                (Ns::Wp, b"meta_value") => fill(&mut m.value, r.text(Trim::No)?),
                _ => r.skip(qname)?,
            }
            Ok(())
        })?;
        Ok(m)
    }

    /// The `wp:*` children of a channel-level entry, as (local name, trimmed text) pairs.
    fn wp_fields(&mut self, container: &str) -> Result<Vec<(Vec<u8>, String)>, WxrError> {
        let mut fields: Vec<(Vec<u8>, String)> = Vec::new();
        self.children(container, |r, ns, qname, local| {
            if ns != Ns::Wp {
                return r.skip(qname);
            }
            let value = r.text(Trim::Yes)?;
            let name = &qname[local..];
            if !fields.iter().any(|(n, _)| n == name) {
                fields.push((name.to_vec(), value));
            }
            Ok(())
        })?;
        Ok(fields)
    }

    fn author(&mut self) -> Result<Entry, WxrError> {
        let f = self.wp_fields("wp:author")?;
        Ok(Entry::Author {
            login: field(&f, b"author_login"),
            display_name: field(&f, b"author_display_name"),
        })
    }

    fn category(&mut self) -> Result<Entry, WxrError> {
        let f = self.wp_fields("wp:category")?;
        Ok(Entry::Category {
            nicename: field(&f, b"category_nicename"),
            name: field(&f, b"cat_name"),
            parent: field(&f, b"category_parent"),
        })
    }

    fn tag(&mut self) -> Result<Entry, WxrError> {
        let f = self.wp_fields("wp:tag")?;
        Ok(Entry::Tag {
            slug: field(&f, b"tag_slug"),
            name: field(&f, b"tag_name"),
        })
    }

    /// `wp:term` (WXR 1.1+) carries any taxonomy; only categories and tags have an
    /// [`Entry`], other taxonomies stay visible through each item's [`Item::terms`].
    fn term(&mut self) -> Result<Option<Entry>, WxrError> {
        let f = self.wp_fields("wp:term")?;
        let (slug, name) = (field(&f, b"term_slug"), field(&f, b"term_name"));
        Ok(match field(&f, b"term_taxonomy").as_str() {
            "category" => Some(Entry::Category {
                nicename: slug,
                name,
                parent: field(&f, b"term_parent"),
            }),
            "post_tag" => Some(Entry::Tag { slug, name }),
            _ => None,
        })
    }

    /// `domain` and `nicename` of an item's `<category>`, read from the raw start tag that
    /// [`Reader::next_ev`] kept for this purpose.
    fn term_attrs(&self) -> (String, String) {
        let mut domain = String::new();
        let mut nicename = String::new();
        for (key, value) in &self.attrs {
            match key.as_slice() {
                b"domain" => domain = value.trim().to_owned(),
                b"nicename" => nicename = value.trim().to_owned(),
                _ => {}
            }
        }
        (domain, nicename)
    }

    /// Calls `f` for every child element of the element just opened; `f` must consume the
    /// child (with [`Reader::text`] or [`Reader::skip`]). Text between children is ignored.
    fn children(
        &mut self,
        container: &str,
        mut f: impl FnMut(&mut Self, Ns, &[u8], usize) -> Result<(), WxrError>,
    ) -> Result<(), WxrError> {
        loop {
            match self.next_ev()? {
                Ev::Start { ns, qname, local } => f(self, ns, &qname, local)?,
                Ev::End => return Ok(()),
                Ev::Eof => return Err(self.eof(&format!("<{container}>"))),
                _ => {}
            }
        }
    }

    /// Skips the element just opened, with everything inside it.
    fn skip(&mut self, qname: &[u8]) -> Result<(), WxrError> {
        let mut depth = 0usize;
        loop {
            match self.next_ev()? {
                Ev::Start { .. } => depth += 1,
                Ev::End if depth == 0 => return Ok(()),
                Ev::End => depth -= 1,
                Ev::Eof => return Err(self.eof(&format!("<{}>", show(qname)))),
                _ => {}
            }
        }
    }

    /// The text of the element just opened: character data, entities and CDATA sections
    /// joined in order; nested elements are skipped.
    fn text(&mut self, trim: Trim) -> Result<String, WxrError> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut depth = 0usize;
        loop {
            match self.next_ev()? {
                Ev::Start { .. } => depth += 1,
                Ev::End if depth == 0 => break,
                Ev::End => depth -= 1,
                Ev::Eof => return Err(self.eof("an element's text")),
                Ev::Text(t) if depth == 0 => pieces.push(Piece::Text(t)),
                Ev::CData(t) if depth == 0 => pieces.push(Piece::CData(t)),
                Ev::Ref { text, raw } if depth == 0 => pieces.push(Piece::Ref { text, raw }),
                _ => {}
            }
        }
        let text = assemble(pieces);
        Ok(match trim {
            Trim::Yes if text.trim().len() != text.len() => text.trim().to_owned(),
            _ => text,
        })
    }

    /// Reads one XML event and turns it into an owned [`Ev`], with its namespace resolved.
    fn next_ev(&mut self) -> Result<Ev, WxrError> {
        if self.pending_end {
            self.pending_end = false;
            return Ok(Ev::End);
        }
        // Keep memory bounded by the largest recent event, not the largest ever.
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        self.buf.clear();
        let at = self.xml.buffer_position();
        self.xml.get_mut().mark();
        let encoding = self.encoding;
        let result = match self.xml.read_resolved_event_into(&mut self.buf) {
            Err(e) => Err(Failure::Xml(e)),
            Ok((res, event)) => convert(res, event, encoding),
        };
        match result {
            Ok(Ev::StartWithAttrs {
                ns,
                qname,
                local,
                attrs,
                empty,
            }) => {
                self.attrs = attrs;
                self.pending_end = empty;
                Ok(Ev::Start { ns, qname, local })
            }
            Ok(Ev::DocType) => Err(self.fail(at, "DTDs are not accepted (<!DOCTYPE …> found)")),
            Ok(ev) => Ok(ev),
            Err(Failure::Xml(e)) => {
                let pos = match e {
                    quick_xml::Error::Io(_) => self.xml.buffer_position(),
                    _ => {
                        let p = self.xml.error_position();
                        // An error position before this event's start would be stale.
                        if p + 1 < at {
                            self.xml.buffer_position()
                        } else {
                            p
                        }
                    }
                };
                Err(self.fail(pos, e.to_string()))
            }
            Err(Failure::Message(m)) => Err(self.fail(at, m)),
        }
    }

    fn eof(&self, inside: &str) -> WxrError {
        self.fail(
            self.position(),
            format!("unexpected end of file inside {inside} (is the export truncated?)"),
        )
    }

    fn fail(&self, pos: u64, message: impl Into<String>) -> WxrError {
        let (line, column) = self.xml.get_ref().line_col(pos);
        WxrError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Entry, WxrError>;

    /// After an `Err`, the iterator ends: the document's structure is lost at that point.
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.pending.take() {
            return Some(Ok(entry));
        }
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trim {
    Yes,
    No,
}

/// Which vocabulary an element belongs to, after namespace resolution.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ns {
    /// No namespace: plain RSS 2.0 (`item`, `title`, `category`, …).
    Rss,
    Wp,
    Excerpt,
    Content,
    Dc,
    Other,
}

impl Ns {
    fn of(res: &ResolveResult, qname: &[u8]) -> Ns {
        let prefixed = qname.contains(&b':');
        match res {
            ResolveResult::Bound(ns) => match Ns::of_uri(ns.into_inner()) {
                Some(ns) => ns,
                // A default namespace nobody knows still leaves RSS's own elements RSS.
                None if !prefixed => Ns::Rss,
                None => Ns::Other,
            },
            ResolveResult::Unbound => Ns::Rss,
            // Undeclared prefix: trust the conventional prefixes, as WordPress's own
            // regex-based importer does.
            ResolveResult::Unknown(prefix) => match prefix.as_slice() {
                b"wp" => Ns::Wp,
                b"excerpt" => Ns::Excerpt,
                b"content" => Ns::Content,
                b"dc" => Ns::Dc,
                _ => Ns::Other,
            },
        }
    }

    fn of_uri(uri: &[u8]) -> Option<Ns> {
        let rest = uri
            .strip_prefix(b"http://")
            .or_else(|| uri.strip_prefix(b"https://"))?;
        if let Some(version) = rest.strip_prefix(b"wordpress.org/export/") {
            let excerpt = version.windows(7).any(|w| w == b"excerpt");
            return Some(if excerpt { Ns::Excerpt } else { Ns::Wp });
        }
        if rest.starts_with(b"purl.org/rss/1.0/modules/content") {
            return Some(Ns::Content);
        }
        if rest.starts_with(b"purl.org/dc/elements/") {
            return Some(Ns::Dc);
        }
        None
    }
}

/// An owned XML event, with only what the walkers need.
#[derive(Debug)]
enum Ev {
    /// `qname[local..]` is the local name.
    Start {
        ns: Ns,
        qname: Vec<u8>,
        local: usize,
    },
    /// Internal to [`Reader::next_ev`]: a start tag with the attributes it needs parked on
    /// the reader, and whether it was an empty-element tag (`<a/>`).
    StartWithAttrs {
        ns: Ns,
        qname: Vec<u8>,
        local: usize,
        attrs: Vec<(Vec<u8>, String)>,
        empty: bool,
    },
    End,
    Text(String),
    CData(String),
    /// `text` is `None` for an entity XML does not define (kept verbatim as `raw`).
    Ref {
        text: Option<String>,
        raw: String,
    },
    /// The encoding label of `<?xml … ?>`, if any.
    Decl(Option<String>),
    DocType,
    Eof,
    /// Comments and processing instructions.
    Skip,
}

enum Failure {
    Xml(quick_xml::Error),
    Message(String),
}

/// Copies what the walkers need out of a borrowed quick-xml event.
fn convert(res: ResolveResult, event: Event, encoding: Encoding) -> Result<Ev, Failure> {
    let message = |m: &str| Failure::Message(m.to_owned());
    Ok(match event {
        Event::Start(ref start) | Event::Empty(ref start) => {
            let qname = start.name().into_inner().to_vec();
            let local = qname.iter().position(|&b| b == b':').map_or(0, |i| i + 1);
            let ns = Ns::of(&res, &qname);
            let mut attrs = Vec::new();
            if ns == Ns::Rss && &qname[local..] == b"category" {
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| Failure::Xml(e.into()))?;
                    let raw = encoding
                        .decode(&attr.value)
                        .ok_or_else(|| message("invalid UTF-8 in an attribute"))?;
                    let value = match quick_xml::escape::unescape(&raw) {
                        Ok(v) => v.into_owned(),
                        Err(_) => raw,
                    };
                    attrs.push((attr.key.local_name().into_inner().to_vec(), value));
                }
            }
            Ev::StartWithAttrs {
                ns,
                qname,
                local,
                attrs,
                empty: matches!(event, Event::Empty(_)),
            }
        }
        Event::End(_) => Ev::End,
        Event::Text(t) => Ev::Text(
            encoding
                .decode(&t)
                .ok_or_else(|| message("invalid UTF-8 in text"))?,
        ),
        Event::CData(t) => Ev::CData(
            encoding
                .decode(&t)
                .ok_or_else(|| message("invalid UTF-8 in a CDATA section"))?,
        ),
        Event::GeneralRef(r) => {
            let name = encoding
                .decode(&r)
                .ok_or_else(|| message("invalid UTF-8 in an entity reference"))?;
            let text = match r.resolve_char_ref() {
                Ok(Some(c)) => Some(c.to_string()),
                Ok(None) => match name.as_str() {
                    "amp" => Some("&".to_owned()),
                    "lt" => Some("<".to_owned()),
                    "gt" => Some(">".to_owned()),
                    "apos" => Some("'".to_owned()),
                    "quot" => Some("\"".to_owned()),
                    _ => None,
                },
                Err(_) => None,
            };
            Ev::Ref {
                text,
                raw: format!("&{name};"),
            }
        }
        Event::Decl(d) => Ev::Decl(match d.encoding() {
            Some(Ok(label)) => Some(String::from_utf8_lossy(&label).into_owned()),
            _ => None,
        }),
        Event::DocType(_) => Ev::DocType,
        Event::Comment(_) | Event::PI(_) => Ev::Skip,
        Event::Eof => Ev::Eof,
    })
}

enum Piece {
    Text(String),
    CData(String),
    Ref { text: Option<String>, raw: String },
}

/// Joins an element's pieces. Two WordPress quirks are handled here:
///
/// * whitespace-only runs before the first and after the last CDATA section are layout of
///   the export file, not content (`<x>\n<![CDATA[a]]>\n</x>` is `a`);
/// * old exporters wrote `]]>` inside CDATA unescaped (`<![CDATA[a ]]> b]]>`), which XML
///   reads as CDATA followed by text containing `]]>`. Valid XML never has `]]>` in text,
///   so when it appears the element is re-read the way WordPress's own importer does:
///   everything between the outermost `<![CDATA[` and the last `]]>`.
fn assemble(mut pieces: Vec<Piece>) -> String {
    let cdata = |p: &Piece| matches!(p, Piece::CData(_));
    if let Some(first) = pieces.iter().position(cdata) {
        let broken = pieces[first..]
            .iter()
            .any(|p| matches!(p, Piece::Text(t) if t.contains("]]>")));
        if broken {
            let mut raw = String::new();
            for p in &pieces {
                match p {
                    Piece::Text(t) => raw.push_str(t),
                    Piece::CData(t) => {
                        raw.push_str("<![CDATA[");
                        raw.push_str(t);
                        raw.push_str("]]>");
                    }
                    Piece::Ref { raw: r, .. } => raw.push_str(r),
                }
            }
            let trimmed = raw.trim();
            if let Some(inner) = trimmed
                .strip_prefix("<![CDATA[")
                .and_then(|s| s.strip_suffix("]]>"))
            {
                return inner.replace("]]]]><![CDATA[>", "]]>");
            }
        }
        let last = pieces.iter().rposition(cdata).unwrap_or(first);
        let blank = |ps: &[Piece]| {
            ps.iter().all(|p| match p {
                Piece::Text(t) => t.trim().is_empty(),
                Piece::Ref { .. } => false,
                Piece::CData(_) => false,
            })
        };
        if blank(&pieces[last + 1..]) {
            pieces.truncate(last + 1);
        }
        if blank(&pieces[..first]) {
            pieces.drain(..first);
        }
    }
    if let [Piece::Text(_) | Piece::CData(_)] = pieces.as_slice() {
        if let Some(Piece::Text(t) | Piece::CData(t)) = pieces.pop() {
            return t;
        }
    }
    let mut out = String::new();
    for p in &pieces {
        match p {
            Piece::Text(t) | Piece::CData(t) => out.push_str(t),
            Piece::Ref { text: Some(t), .. } => out.push_str(t),
            Piece::Ref { text: None, raw } => out.push_str(raw),
        }
    }
    out
}

/// First non-empty value wins, as with WordPress's SimpleXML parser reading the first
/// matching child.
fn fill(target: &mut String, value: String) {
    if target.is_empty() {
        *target = value;
    }
}

/// Numbers that fail to parse count as 0 (WordPress's `(int)` cast).
fn fill_num(target: &mut u64, value: &str) {
    if *target == 0 {
        *target = value.parse().unwrap_or(0);
    }
}

fn field(fields: &[(Vec<u8>, String)], name: &[u8]) -> String {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn add_term(
    terms: &mut Vec<Term>,
    guessed: &mut Vec<bool>,
    domain: String,
    nicename: String,
    name: String,
) {
    let domain = match domain.as_str() {
        // WXR 1.0: a bare <category> is a category, and tags are `domain="tag"`.
        "" => "category".to_owned(),
        "tag" => "post_tag".to_owned(),
        _ => domain,
    };
    let explicit = !nicename.is_empty();
    let nicename = if explicit { nicename } else { slugify(&name) };
    for (i, t) in terms.iter_mut().enumerate() {
        if t.domain != domain {
            continue;
        }
        if t.nicename == nicename {
            return;
        }
        if t.name == name && (guessed[i] || !explicit) {
            if guessed[i] && explicit {
                t.nicename = nicename;
                guessed[i] = false;
            }
            return;
        }
    }
    terms.push(Term {
        domain,
        nicename,
        name,
    });
    guessed.push(!explicit);
}

/// A WordPress-like slug for WXR 1.0 terms that come without `nicename`: lower case,
/// letters and digits kept, everything else collapsed to single dashes.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

fn show(qname: &[u8]) -> String {
    String::from_utf8_lossy(qname).into_owned()
}

/// The document's character encoding. quick-xml is built without its `encoding` feature,
/// so the few single-byte encodings old WordPress blogs used are decoded here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Utf8,
    /// ISO-8859-1 and its superset Windows-1252 (browsers treat the former as the latter).
    Windows1252,
}

impl Encoding {
    fn from_label(label: &str) -> Option<Encoding> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(Encoding::Utf8),
            "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "windows-1252"
            | "cp1252" => Some(Encoding::Windows1252),
            _ => None,
        }
    }

    fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_owned),
            Encoding::Windows1252 => Some(
                bytes
                    .iter()
                    .map(|&b| match b {
                        0x80..=0x9f => CP1252_HIGH[usize::from(b - 0x80)],
                        _ => char::from(b),
                    })
                    .collect(),
            ),
        }
    }
}

/// Windows-1252 code points for bytes 0x80–0x9F (undefined bytes map to the C1 control).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

/// Wraps the input to count bytes and lines as quick-xml consumes them, so errors can name
/// a line and column without keeping the text: only the newlines of the current event are
/// remembered (an error always lies within the event being read).
struct Counting<R> {
    inner: R,
    /// Bytes consumed.
    pos: u64,
    /// Newlines consumed before `mark_pos`, and where the line containing it starts.
    mark_pos: u64,
    mark_lines: u64,
    mark_line_start: u64,
    /// Offsets of newlines consumed since `mark_pos`.
    newlines: Vec<u64>,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            pos: 0,
            mark_pos: 0,
            mark_lines: 0,
            mark_line_start: 0,
            newlines: Vec::new(),
        }
    }

    /// Forgets the newlines before the current position: called before each event.
    fn mark(&mut self) {
        self.mark_lines += self.newlines.len() as u64;
        if let Some(&last) = self.newlines.last() {
            self.mark_line_start = last + 1;
        }
        self.mark_pos = self.pos;
        self.newlines.clear();
        if self.newlines.capacity() > 1 << 16 {
            self.newlines = Vec::new();
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                self.newlines.push(self.pos + i as u64);
            }
        }
        self.pos += bytes.len() as u64;
    }

    /// 1-based line and byte column of `pos`, which must not lie before the current
    /// event's line.
    fn line_col(&self, pos: u64) -> (u64, u64) {
        let before = self.newlines.partition_point(|&n| n < pos);
        let line_start = match before {
            0 => self.mark_line_start,
            n => self.newlines[n - 1] + 1,
        };
        (
            self.mark_lines + before as u64 + 1,
            pos.saturating_sub(line_start) + 1,
        )
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.count(&out[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            let Counting {
                inner,
                pos,
                newlines,
                ..
            } = self;
            // The bytes being consumed are still in the inner buffer, so this does no I/O.
            if let Ok(buf) = inner.fill_buf() {
                let n = amt.min(buf.len());
                for (i, &b) in buf[..n].iter().enumerate() {
                    if b == b'\n' {
                        newlines.push(*pos + i as u64);
                    }
                }
            }
            *pos += amt as u64;
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/wordpress-wxr/");

    fn bytes(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Site and every entry of a file that must parse.
    fn read_all(name: &str) -> (Site, Vec<Entry>) {
        let data = bytes(name);
        let reader = Reader::new(&data[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let site = reader.site().clone();
        let entries = reader
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        (site, entries)
    }

    /// The first error of a document given as text, from `new` or from the entries.
    fn first_error(xml: &str) -> WxrError {
        match Reader::new(xml.as_bytes()) {
            Err(e) => e,
            Ok(r) => r
                .filter_map(Result::err)
                .next()
                .expect("the document should fail"),
        }
    }

    fn items(entries: &[Entry]) -> Vec<&Item> {
        entries
            .iter()
            .filter_map(|e| match e {
                Entry::Item(i) => Some(&**i),
                _ => None,
            })
            .collect()
    }

    fn only_item(name: &str) -> Item {
        let (_, entries) = read_all(name);
        let items = items(&entries);
        assert_eq!(items.len(), 1, "{name}");
        items[0].clone()
    }

    fn term(domain: &str, nicename: &str, name: &str) -> Term {
        Term {
            domain: domain.into(),
            nicename: nicename.into(),
            name: name.into(),
        }
    }

    #[test]
    fn wxr_every_shared_file_is_handled() {
        let dir = std::path::Path::new(DIR);
        assert!(dir.is_dir(), "{DIR} is missing");
        let mut seen = 0;
        for file in std::fs::read_dir(dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            seen += 1;
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let data = std::fs::read(&path).unwrap();
            // Through a real buffered file reader too, as the importer will read them.
            let file = io::BufReader::new(std::fs::File::open(&path).unwrap());
            if name == "malformed.xml" {
                let e = Reader::new(&data[..])
                    .err()
                    .expect("malformed.xml must fail");
                assert!(e.line > 0 && e.column > 0, "{e}");
                assert!(Reader::new(file).is_err());
                continue;
            }
            let reader = Reader::new(file).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut count = 0;
            let mut last = 0;
            for entry in reader {
                entry.unwrap_or_else(|e| panic!("{name}: {e}"));
                count += 1;
            }
            assert!(count > 0, "{name}: no entries");
            let mut reader = Reader::new(&data[..]).unwrap();
            while let Some(entry) = reader.next() {
                entry.unwrap();
                assert!(reader.position() >= last);
                last = reader.position();
            }
            assert_eq!(
                reader.position(),
                data.len() as u64,
                "{name}: read to the end"
            );
        }
        assert!(seen >= 15, "only {seen} exports in {DIR}");
    }

    #[test]
    fn wxr_malformed_points_at_the_fault() {
        let data = bytes("malformed.xml");
        let e = Reader::new(&data[..])
            .err()
            .expect("malformed.xml must fail");
        assert_eq!((e.line, e.column), (27, 1), "{e}");
        assert!(e.message.contains("<channel>"), "{e}");
        assert!(e.message.contains("notachanneltag"), "{e}");
        let text = String::from_utf8(data).unwrap();
        let line = text.lines().nth(e.line as usize - 1).unwrap();
        assert!(line[e.column as usize - 1..].starts_with("<notachanneltag>"));
        assert!(e.to_string().starts_with("line 27, column 1: "));
    }

    #[test]
    fn wxr_syntax_errors_carry_line_and_column() {
        // Mismatched end tag inside an item: reported at its `<`.
        let xml = "<rss><channel>\n<item>\n  <title>A</title>\n  <wp:post_id>1</wp:post_idx>\n</item>\n</channel></rss>";
        let e = first_error(xml);
        assert_eq!((e.line, e.column), (4, 16), "{e}");
        assert!(e.message.contains("post_id"), "{e}");

        // Truncated in the middle of an item.
        let e = first_error("<rss><channel>\n<item>\n<title>A</title>\n<content:encoded>abc");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("end of file"), "{e}");

        // Truncated inside a CDATA section: reported where the section opens.
        let e = first_error(
            "<rss><channel>\n<item>\n<title>A</title>\n  <content:encoded><![CDATA[abc\ndef\n",
        );
        assert_eq!((e.line, e.column), (4, 20), "{e}");

        // Truncated after the last entry.
        let e = first_error("<rss><channel><item><title>A</title></item>\n");
        assert!(e.message.contains("<channel>"), "{e}");
        let e = first_error("<rss><channel><item><title>A</title></item></channel>");
        assert!(e.message.contains("<rss>"), "{e}");

        // Something after the document.
        let e = first_error("<rss><channel></channel></rss>\n<rss/>");
        assert_eq!((e.line, e.column), (2, 1), "{e}");
    }

    #[test]
    fn wxr_refuses_what_is_not_an_export() {
        for (xml, line, needle) in [
            ("", 1, "no <rss>"),
            ("   \n", 2, "no <rss>"),
            ("{\"posts\": []}", 1, "text before"),
            ("<?xml version=\"1.0\"?>\n<html><body/></html>", 2, "<html>"),
            ("<rss version=\"2.0\"/>", 1, "no <channel>"),
            ("<rss>\n<item/></rss>", 2, "expected <channel>"),
            (
                "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY x \"y\">]>\n<rss><channel/></rss>",
                2,
                "DTD",
            ),
            ("<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss/>", 1, "encoding"),
        ] {
            let e = Reader::new(xml.as_bytes()).err().unwrap_or_else(|| panic!("{xml:?} must fail"));
            assert_eq!(e.line, line, "{xml:?}: {e}");
            assert!(e.message.contains(needle), "{xml:?}: {e}");
        }
        // An empty channel is a valid (empty) export.
        let r = Reader::new(&b"<rss><channel/></rss>"[..]).unwrap();
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn wxr_small_export_counts() {
        let (site, entries) = read_all("small-export.xml");
        assert_eq!(site.title, "trunk");
        assert_eq!(site.link, "http://localhost/");
        assert_eq!(site.description, "Just another WordPress site");
        assert_eq!(site.language, "en");
        assert_eq!(site.wxr_version.as_deref(), Some("1.1"));
        assert_eq!(site.base_site_url, "http://localhost/");
        assert_eq!(site.base_blog_url, "http://localhost/");

        let count = |f: fn(&Entry) -> bool| entries.iter().filter(|e| f(e)).count();
        assert_eq!(count(|e| matches!(e, Entry::Author { .. })), 3);
        assert_eq!(count(|e| matches!(e, Entry::Category { .. })), 30);
        assert_eq!(count(|e| matches!(e, Entry::Tag { .. })), 3);
        assert!(entries.contains(&Entry::Author {
            login: "editor".into(),
            display_name: "editor".into()
        }));
        assert!(entries.contains(&Entry::Category {
            nicename: "foo-bar".into(),
            name: "Foo".into(),
            parent: "bar".into()
        }));
        assert!(entries.contains(&Entry::Category {
            nicename: "eternity".into(),
            name: "远征手记".into(),
            parent: "".into()
        }));

        let items = items(&entries);
        assert_eq!(items.len(), 11);
        let of_type = |t: &str| items.iter().filter(|i| i.post_type == t).count();
        assert_eq!(
            (of_type("post"), of_type("page"), of_type("attachment")),
            (6, 5, 0)
        );
        let comments: Vec<&Comment> = items.iter().flat_map(|i| &i.comments).collect();
        assert_eq!(comments.len(), 1);
        assert_eq!(items.iter().map(|i| i.meta.len()).sum::<usize>(), 17);

        let hello = items[0];
        assert_eq!(hello.title, "Hello world!");
        assert_eq!(hello.post_id, 1);
        assert_eq!(hello.creator, "author");
        assert_eq!(hello.status, "publish");
        assert_eq!(hello.post_name, "hello-world");
        assert_eq!(hello.meta("Post by"), Some("author"));
        assert_eq!(hello.meta("absent"), None);
        assert_eq!(
            hello.terms,
            [term("category", "uncategorized", "Uncategorized")]
        );
        let c = &hello.comments[0];
        assert_eq!(c.id, 1);
        assert_eq!(c.author, "Mr WordPress");
        assert_eq!(c.author_url, "http://wordpress.org/");
        assert_eq!(c.date, "2011-01-18 07:40:14");
        assert_eq!(c.approved, "1");
        assert_eq!(c.kind, "");
        assert!(c
            .content
            .starts_with("Hi, this is a comment.<br />To delete"));
        assert!(
            c.content.contains("post&#039;s"),
            "CDATA keeps entities as written"
        );

        let find = |title: &str| *items.iter().find(|i| i.title == title).unwrap();
        assert_eq!(find("Draft Page").status, "draft");
        assert_eq!(find("Child Page").post_parent, 6);
        let private = find("Private Post");
        assert_eq!(private.status, "private");
        assert_eq!(
            private
                .terms
                .iter()
                .filter(|t| t.domain == "post_tag")
                .count(),
            3
        );
        assert!(find("Non-standard post format").terms.contains(&term(
            "post_format",
            "post-format-aside",
            "Aside"
        )));
        assert_eq!(find("Many Categories").terms.len(), 27);
    }

    const CRAZY_CONTENT: &str = "Content with nested <![CDATA[ tags ]]> :)";

    fn assert_crazy(item: &Item) {
        assert_eq!(item.content, CRAZY_CONTENT);
        assert_eq!(item.excerpt, "");
        assert_eq!(item.meta("Plain string"), Some("Foo"));
        assert_eq!(item.meta("Closing CDATA"), Some("]]>"));
        assert_eq!(
            item.meta("Alot of CDATA"),
            Some("This has <![CDATA[ opening and ]]> closing <![CDATA[ tags like this: ]]>")
        );
    }

    #[test]
    fn wxr_crazy_cdata() {
        assert_crazy(&only_item("crazy-cdata.xml"));
    }

    #[test]
    fn wxr_crazy_cdata_escaped() {
        assert_crazy(&only_item("crazy-cdata-escaped.xml"));
    }

    #[test]
    fn wxr_cdata_edge() {
        assert_eq!(
            only_item("cdata-edge.xml").content,
            "ends with sequence ]] >"
        );
    }

    #[test]
    fn wxr_multiple_cdata() {
        assert_eq!(
            only_item("multiple-cdata.xml").content,
            "line oneline twoline three"
        );
    }

    #[test]
    fn wxr_text_is_joined_and_decoded() {
        let xml = "<rss><channel><item>\
            <title>Tom &amp; Jerry&#8217;s &lt;b&gt; &#x1F332; &nbsp;x</title>\
            <content:encoded>  a <![CDATA[<b>]]> &amp; <![CDATA[c]]]]><![CDATA[>d]]>  </content:encoded>\
            <wp:post_id> 12 </wp:post_id><wp:post_parent>x</wp:post_parent><wp:menu_order>-3</wp:menu_order>\
            <wp:is_sticky>1</wp:is_sticky><wp:post_type> post </wp:post_type>\
            <wp:postmeta><wp:meta_key> k </wp:meta_key><wp:meta_value> v </wp:meta_value></wp:postmeta>\
            </item></channel></rss>";
        let mut r = Reader::new(xml.as_bytes()).unwrap();
        let Some(Ok(Entry::Item(item))) = r.next() else {
            panic!("one item")
        };
        assert_eq!(item.title, "Tom & Jerry\u{2019}s <b> \u{1F332} &nbsp;x");
        // Whitespace after the last CDATA section is the file's layout, not content.
        assert_eq!(item.content, "  a <b> & c]]>d");
        assert_eq!(item.post_id, 12);
        assert_eq!(item.post_parent, 0);
        assert_eq!(item.menu_order, -3);
        assert!(item.is_sticky);
        assert_eq!(item.post_type, "post");
        assert_eq!(
            item.meta,
            [Meta {
                key: "k".into(),
                value: " v ".into()
            }]
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn wxr_slashes() {
        let (_, entries) = read_all("slashes.xml");
        assert!(entries.contains(&Entry::Category {
            nicename: "alpha".into(),
            name: r#"a \"great\" category"#.into(),
            parent: "".into()
        }));
        assert!(entries.contains(&Entry::Tag {
            slug: "tag1".into(),
            name: r"foo\'bar".into()
        }));
        let item = items(&entries)[0].clone();
        assert_eq!(item.content, r#"Slashes aren\'t \"cool\""#);
        assert_eq!(
            item.terms,
            [term("category", "alpha", r#"a \"great\" category"#)]
        );
        assert_eq!(item.comments[0].content, r"\o/ ¯\_(ツ)_/¯");
    }

    #[test]
    fn wxr_utf8_challenges() {
        let (site, entries) = read_all("wxr-utf-8-challenges.xml");
        assert_eq!(
            site.title,
            "My WordPress Website \u{1F680} \u{202E}\u{202D}\u{645}\u{631}\u{62D}\u{628}\u{627}"
        );
        assert_eq!(
            site.description,
            "Site with \u{A0}\u{200B}\u{2060}\u{FEFF} invisible chars and \u{FFFD} replacement"
        );
        assert!(entries.contains(&Entry::Author {
            login: "admin\u{200c}\u{200b}\u{200d}\u{200e}".into(),
            display_name: "A̸̰̅d̴̰͝m̵͎̽i̵̱̋n̷̰̎ \u{200b}\u{200d}\u{200c}\u{200e}".trim().into(),
        }));
        let item = only_item("wxr-utf-8-challenges.xml");
        assert_eq!(
            item.title,
            "\"The Road \u{202e}Not\u{202c} Taken\" by Rob\u{202d}ert \u{202e}Frost \u{202a}\u{1F332}\u{202c}"
        );
        assert_eq!(
            item.post_name,
            "hello-w\u{202e}orld\u{202c}-utf8-\u{1F4AB}-test"
        );
        assert_eq!(item.creator, "admin\u{200c}\u{200b}\u{200d}\u{200e}");
        assert!(item.guid.contains("?p=1&test=\u{1F4AB}"));
        assert!(item.content.starts_with("<!-- wp:paragraph -->\n<p>T̷̢̯̭̈w̴̰̜̾o̷͉̅"));
        assert!(
            item.content.contains("𝗭𝗲𝗿𝗼-𝗪𝗶𝗱𝘁𝗵: &#x200B;"),
            "CDATA is literal"
        );
        assert!(item.content.ends_with("<!-- /wp:paragraph -->"));
        assert_eq!(item.terms[0].nicename, "uncat\u{202e}egorized\u{202c}");
        assert!(item.terms[0].name.ends_with(" \u{1F3AD}"));
        assert_eq!(
            item.meta("_special_chars"),
            Some("&#x202E;&#x202D;&#x200B;&#x200C;&#x200D;&#x2060;&#xFEFF;&#xFFFD;")
        );
        assert_eq!(item.meta.len(), 5);
    }

    #[test]
    fn wxr_valid_1_0() {
        let (site, entries) = read_all("valid-wxr-1.0.xml");
        assert_eq!(site.wxr_version.as_deref(), Some("1.0"));
        let items = items(&entries);
        assert_eq!(items.len(), 6);
        assert_eq!(items.iter().filter(|i| i.post_type == "page").count(), 3);
        assert_eq!(items.iter().map(|i| i.comments.len()).sum::<usize>(), 1);
        let find = |title: &str| *items.iter().find(|i| i.title == title).unwrap();
        // Bare <category> and its repeat with nicename give one term each.
        assert_eq!(
            find("Hello world!").terms,
            [term("category", "uncategorized", "Uncategorized")]
        );
        assert_eq!(
            find("Alpha post").terms,
            [
                term("category", "alpha", "alpha"),
                term("post_tag", "news", "news"),
                term("post_tag", "roar", "roar")
            ]
        );
        assert_eq!(find("Child post").terms.len(), 3);
        assert!(entries.contains(&Entry::Category {
            nicename: "child".into(),
            name: "child".into(),
            parent: "parent".into()
        }));
    }

    #[test]
    fn wxr_1_0_terms_without_nicename() {
        let xml = "<rss><channel><item>\
            <category><![CDATA[Big News!]]></category>\
            <category domain=\"tag\"><![CDATA[Été 2010]]></category>\
            <category domain=\"category\" nicename=\"big-news-2\"><![CDATA[Big News!]]></category>\
            </item></channel></rss>";
        let mut r = Reader::new(xml.as_bytes()).unwrap();
        let Some(Ok(Entry::Item(item))) = r.next() else {
            panic!("one item")
        };
        assert_eq!(
            item.terms,
            [
                term("category", "big-news-2", "Big News!"),
                term("post_tag", "été-2010", "Été 2010")
            ]
        );
    }

    #[test]
    fn wxr_namespace_edge_cases() {
        let (site, entries) = read_all("namespace-edge-cases.xml");
        assert_eq!(site.title, "Namespace Edge Cases");
        let authors: Vec<&Entry> = entries
            .iter()
            .filter(|e| matches!(e, Entry::Author { .. }))
            .collect();
        // The fake and the custom namespaces are not WordPress's; the 1.1 one is.
        assert_eq!(
            authors,
            [
                &Entry::Author {
                    login: "real_user".into(),
                    display_name: "".into()
                },
                &Entry::Author {
                    login: "version_conflict".into(),
                    display_name: "".into()
                }
            ]
        );
        let items = items(&entries);
        let ids: Vec<u64> = items.iter().map(|i| i.post_id).collect();
        // Item 1 also has <alt:post_id>999 in the same namespace: the first one wins.
        // Item 5 re-binds `wp:` to another namespace, so it has no WordPress fields.
        assert_eq!(ids, [1, 2, 3, 4, 0, 6]);
        assert_eq!(
            items[0].meta,
            [Meta {
                key: "normal_key".into(),
                value: "normal_value".into()
            }]
        );
        assert_eq!(items[4].title, "Hijacked Namespace");
        assert_eq!(items[4].post_type, "");
        assert!(items[4].meta.is_empty());
        assert_eq!(items[1].content, "Testing default namespace");
        assert_eq!(items[5].content, "&lol1;".repeat(10));
        let categories: Vec<&Entry> = entries
            .iter()
            .filter(|e| matches!(e, Entry::Category { .. }))
            .collect();
        assert_eq!(categories.len(), 2, "{categories:?}");
    }

    #[test]
    fn wxr_https_namespace_and_odd_prefixes() {
        let xml = r#"<rss xmlns:w="https://wordpress.org/export/1.2/" xmlns:ex="https://wordpress.org/export/1.2/excerpt/" xmlns:c="http://purl.org/rss/1.0/modules/content/" xmlns:d="http://purl.org/dc/elements/1.1/"><channel>
            <w:wxr_version>1.2</w:wxr_version>
            <item><title>T</title><d:creator>me</d:creator><c:encoded>body</c:encoded><ex:encoded>short</ex:encoded><w:post_id>7</w:post_id><w:post_type>page</w:post_type></item>
            </channel></rss>"#;
        let mut r = Reader::new(xml.as_bytes()).unwrap();
        assert_eq!(r.site().wxr_version.as_deref(), Some("1.2"));
        let Some(Ok(Entry::Item(item))) = r.next() else {
            panic!("one item")
        };
        assert_eq!(
            (
                item.creator.as_str(),
                item.content.as_str(),
                item.excerpt.as_str()
            ),
            ("me", "body", "short")
        );
        assert_eq!((item.post_id, item.post_type.as_str()), (7, "page"));
    }

    #[test]
    fn wxr_missing_version_tag() {
        let (site, entries) = read_all("missing-version-tag.xml");
        assert_eq!(site.wxr_version, None);
        assert_eq!(site.title, "WXR Test Data");
        // 1 author, 21 categories, 18 tags; the `post_tax` terms have no entry of their own.
        assert_eq!(entries.len(), 1 + 21 + 18);
    }

    #[test]
    fn wxr_serialized_comment_meta() {
        let item = only_item("test-serialized-comment-meta.xml");
        assert_eq!(item.post_name, "");
        assert_eq!(item.description, "");
        assert_eq!(item.excerpt, "");
        let c = &item.comments[0];
        assert_eq!(c.author_email, "wapuu@wordpress.example");
        assert_eq!(c.date_gmt, "2020-01-05 12:50:15");
        assert!(c
            .content
            .contains("Comments screen in the dashboard.\nCommenter avatars"));
        assert_eq!(
            c.meta,
            [
                Meta {
                    key: "string".into(),
                    value: r"¯\_(ツ)_/¯".into()
                },
                Meta {
                    key: "array".into(),
                    value: r#"a:1:{s:3:"key";s:13:"¯\_(ツ)_/¯";}"#.into()
                }
            ]
        );
    }

    #[test]
    fn wxr_post_content_blank_lines() {
        assert_eq!(
            only_item("post-content-blank-lines.xml").content,
            "This is an example of a WordPress post.\n\t\tIt has lines with text (and one blank line).\n\nAnd more lines with text."
        );
    }

    #[test]
    fn wxr_attachment() {
        let (_, entries) = read_all("wxr-flat-attachment-same-site.xml");
        let items = items(&entries);
        let a = items.iter().find(|i| i.post_type == "attachment").unwrap();
        assert_eq!(
            a.attachment_url,
            "https://wpthemetestdata.files.wordpress.com/2008/06/canola2.jpg"
        );
    }

    #[test]
    fn wxr_latin1_and_bom() {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><title>Caf\xe9 \x80</title></channel></rss>".to_vec();
        let r = Reader::new(&xml[..]).unwrap();
        assert_eq!(r.site().title, "Café €");
        xml = b"\xef\xbb\xbf<rss><channel><title>x</title></channel></rss>".to_vec();
        assert_eq!(Reader::new(&xml[..]).unwrap().site().title, "x");
        let e = Reader::new(&b"<rss><channel><title>\xff</title></channel></rss>"[..])
            .err()
            .unwrap();
        assert!(e.message.contains("UTF-8"), "{e}");
    }

    /// Produces a WXR export of `items` posts on the fly, a few bytes per `read`, and
    /// records how far it got, so the test can see the reader never ran ahead.
    struct Synthetic {
        items: usize,
        next: usize,
        chunk: Vec<u8>,
        at: usize,
        produced: Rc<Cell<u64>>,
        finished: bool,
    }

    impl Read for Synthetic {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == self.chunk.len() {
                self.at = 0;
                self.chunk.clear();
                if self.next == 0 {
                    self.chunk.extend_from_slice(
                        b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<rss version=\"2.0\" \
                          xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
                          xmlns:wp=\"http://wordpress.org/export/1.2/\">\n<channel>\n\
                          <title>Big</title><wp:wxr_version>1.2</wp:wxr_version>\n",
                    );
                }
                if self.next < self.items {
                    let n = self.next;
                    self.chunk.extend_from_slice(
                        format!(
                            "<item><title>Post {n}</title><content:encoded><![CDATA[{}]]></content:encoded>\
                             <wp:post_id>{n}</wp:post_id><wp:post_type>post</wp:post_type>\
                             <wp:postmeta><wp:meta_key>k</wp:meta_key><wp:meta_value>{n}</wp:meta_value></wp:postmeta></item>\n",
                            "lorem ipsum\n".repeat(20)
                        )
                        .as_bytes(),
                    );
                    self.next += 1;
                } else if !self.finished {
                    self.chunk.extend_from_slice(b"</channel>\n</rss>\n");
                    self.finished = true;
                } else {
                    return Ok(0);
                }
            }
            let n = out.len().min(self.chunk.len() - self.at).min(1000);
            out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
            self.at += n;
            self.produced.set(self.produced.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn wxr_streams_a_large_export() {
        const ITEMS: usize = 20_000;
        let produced = Rc::new(Cell::new(0));
        let source = Synthetic {
            items: ITEMS,
            next: 0,
            chunk: Vec::new(),
            at: 0,
            produced: Rc::clone(&produced),
            finished: false,
        };
        let mut reader = Reader::new(io::BufReader::with_capacity(8192, source)).unwrap();
        assert_eq!(reader.site().title, "Big");
        let mut count = 0;
        let mut last = 0;
        while let Some(entry) = reader.next() {
            let Entry::Item(item) = entry.unwrap() else {
                panic!("only items")
            };
            assert_eq!(item.post_id, count as u64);
            assert_eq!(item.meta("k"), Some(count.to_string().as_str()));
            assert_eq!(item.content.len(), 12 * 20);
            // Never more than a buffer or two ahead of what has been handed out.
            assert!(produced.get() <= reader.position() + 2 * 8192 + 1000);
            assert!(reader.position() > last);
            last = reader.position();
            count += 1;
        }
        assert_eq!(count, ITEMS);
        assert_eq!(reader.position(), produced.get());
        assert!(produced.get() > 5_000_000, "{} bytes", produced.get());
    }

    #[test]
    fn wxr_mutations_never_panic() {
        let original = bytes("small-export.xml");
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut random = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        let (mut ok, mut err) = (0, 0);
        for round in 0..500 {
            let mut data = original.clone();
            match round % 4 {
                0 => data.truncate(random(data.len())),
                1 => {
                    for _ in 0..1 + random(4) {
                        let i = random(data.len());
                        data[i] ^= 1 << random(8);
                    }
                }
                2 => {
                    let i = random(data.len());
                    let specials = b"<>&/]![\"'=:\n\0\xff";
                    data[i] = specials[random(specials.len())];
                }
                _ => {
                    let (a, b) = (random(data.len()), random(data.len()));
                    data.drain(a.min(b)..a.max(b).min(a.min(b) + 64));
                }
            }
            match Reader::new(&data[..]) {
                Err(e) => {
                    assert!(e.line >= 1 && e.column >= 1);
                    err += 1;
                }
                Ok(reader) => {
                    let mut failed = false;
                    for entry in reader {
                        assert!(!failed, "entries after an error");
                        if let Err(e) = entry {
                            assert!(e.line >= 1 && e.column >= 1);
                            failed = true;
                        }
                    }
                    if failed {
                        err += 1
                    } else {
                        ok += 1
                    }
                }
            }
        }
        assert!(err > 100 && ok > 10, "{ok} ok, {err} errors");
    }
}
