//! What the targets assert beyond "no panic": HTML without script-bearing markup, XML that
//! parses, and the helpers that cut one fuzz input into several fields.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// Splits `data` at `0xFF` bytes (never part of UTF-8) into at most `n` fields, each read
/// as UTF-8 (invalid bytes become U+FFFD); missing fields are empty.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// What a scan of an HTML document found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Every `<script>`: its `src`, or `inline:` and its text.
    pub scripts: Vec<String>,
    /// Start tags, in order (lower-case names).
    pub tags: Vec<String>,
    /// Script-bearing markup other than `<script>` elements: event-handler attributes,
    /// `javascript:`-like URLs, embedding elements.
    pub problems: Vec<String>,
}

const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "codebase",
    "cite",
    "longdesc",
    "usemap",
    "dynsrc",
    "lowsrc",
    "ping",
];

/// Elements that run or embed active content, or change where scripts and links resolve.
const ACTIVE: &[&str] = &[
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal",
];

/// Whether a URL (as an attribute value, entities already decoded) would run script when
/// followed: browsers drop ASCII tab and newlines anywhere and leading spaces and control
/// characters, and read schemes case-insensitively.
pub fn is_script_url(value: &str) -> bool {
    let cleaned: String = value
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .to_ascii_lowercase();
    cleaned.starts_with("javascript:")
        || cleaned.starts_with("vbscript:")
        || cleaned.starts_with("data:")
        || cleaned.starts_with("livescript:")
}

struct Sink(RefCell<State>);

#[derive(Default)]
struct State {
    scan: Scan,
    /// Collecting the text of an inline script.
    script: Option<String>,
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut st = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                let name = tag.name.to_string();
                st.scan.tags.push(name.clone());
                for a in &tag.attrs {
                    let attr = a.name.local.to_string().to_ascii_lowercase();
                    let value = a.value.to_string();
                    if attr.starts_with("on") {
                        st.scan
                            .problems
                            .push(format!("<{name} {attr}=…> (an event handler)"));
                    }
                    if (URL_ATTRS.contains(&attr.as_str()) || attr == "srcset")
                        && value.split(',').any(is_script_url)
                    {
                        st.scan
                            .problems
                            .push(format!("<{name} {attr}={value:?}> (a script URL)"));
                    }
                    if attr == "style" {
                        let v = value.to_ascii_lowercase();
                        if v.contains("javascript:") || v.contains("expression(") {
                            st.scan
                                .problems
                                .push(format!("<{name} style={value:?}> (script in a style)"));
                        }
                    }
                    if name == "meta"
                        && attr == "content"
                        && tag.attrs.iter().any(|h| {
                            str::eq_ignore_ascii_case(&h.name.local, "http-equiv")
                                && h.value.eq_ignore_ascii_case("refresh")
                        })
                    {
                        let target = value.split_once("url=").map_or("", |(_, u)| u);
                        if is_script_url(target) {
                            st.scan
                                .problems
                                .push(format!("<meta refresh {value:?}> (a script URL)"));
                        }
                    }
                }
                if ACTIVE.contains(&name.as_str()) {
                    st.scan
                        .problems
                        .push(format!("<{name}> (embeds active content)"));
                }
                match name.as_str() {
                    "script" => {
                        let src = tag
                            .attrs
                            .iter()
                            .find(|a| str::eq_ignore_ascii_case(&a.name.local, "src"))
                            .map(|a| a.value.to_string());
                        match src {
                            Some(src) => {
                                st.scan.scripts.push(src);
                                st.script = Some(String::from("\u{0}src"));
                            }
                            None => st.script = Some(String::new()),
                        }
                        return TokenSinkResult::RawData(RawKind::ScriptData);
                    }
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                        return TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "textarea" | "title" => return TokenSinkResult::RawData(RawKind::Rcdata),
                    "plaintext" => return TokenSinkResult::Plaintext,
                    _ => {}
                }
            }
            Token::TagToken(tag) if &*tag.name == "script" => {
                if let Some(text) = st.script.take() {
                    if !text.starts_with('\u{0}') {
                        st.scan.scripts.push(format!("inline:{text}"));
                    }
                }
            }
            Token::CharacterTokens(t) => {
                if let Some(s) = st.script.as_mut() {
                    s.push_str(&t);
                }
            }
            Token::EOFToken => {
                if let Some(text) = st.script.take() {
                    if !text.starts_with('\u{0}') {
                        st.scan.scripts.push(format!("inline:{text}"));
                    }
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Tokenise `html` as a browser would (raw text inside `<script>`, `<style>`, …) and list
/// what could run script.
pub fn scan_html(html: &str) -> Scan {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(
        Sink(RefCell::new(State::default())),
        TokenizerOpts::default(),
    );
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner().scan
}

/// Panics when `html` holds a script, an event handler, a script URL or an embedding
/// element.
pub fn assert_inert_html(what: &str, html: &str) {
    let scan = scan_html(html);
    assert!(
        scan.scripts.is_empty() && scan.problems.is_empty(),
        "{what}: script-bearing markup: scripts {:?}, problems {:?}\nin: {html}",
        scan.scripts,
        scan.problems
    );
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("<script"),
        "{what}: a `<script` in the output: {html}"
    );
}

/// Panics when a whole page holds script-bearing markup or a script other than
/// `allowed` (the theme's own, from a page rendered from harmless input).
pub fn assert_page_inert(what: &str, html: &str, allowed: &[String]) {
    let scan = scan_html(html);
    assert!(
        scan.problems.is_empty(),
        "{what}: script-bearing markup {:?}\nin: {html}",
        scan.problems
    );
    for s in &scan.scripts {
        assert!(
            allowed.contains(s),
            "{what}: a script the theme does not have: {s:?}\nin: {html}"
        );
    }
}

/// Panics unless `xml` is a well-formed XML document.
pub fn assert_xml(what: &str, xml: &str) {
    if let Err(e) = roxmltree::Document::parse(xml) {
        panic!("{what}: not well-formed XML ({e})\n{xml}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_scripts_handlers_and_script_urls() {
        let s = scan_html(
            "<p onclick=x>a</p><a href=' jav&#x09;ascript:alert(1)'>b</a>\
             <script>var a = '<b>';</script><iframe src=x></iframe>",
        );
        assert_eq!(s.scripts, ["inline:var a = '<b>';"]);
        assert_eq!(s.problems.len(), 3, "{:?}", s.problems);
        assert!(
            scan_html("<p>&lt;script&gt;</p><a href=\"https://x/\">x</a>")
                .problems
                .is_empty()
        );
    }

    #[test]
    fn fields_split_at_ff() {
        assert_eq!(fields(b"a\xffb\xffc\xffd", 3), ["a", "b", "c\u{FFFD}d"]);
        assert_eq!(fields(b"", 2), ["", ""]);
    }
}
