//! The `pingback.ping` call (Pingback 1.0 over XML-RPC), and the answers we send back.
//!
//! The body comes from anyone on the internet, so it is read defensively: a size cap before
//! parsing, no DTD at all (a DOCTYPE or entity declaration is refused outright, which rules out
//! external entities (XXE) and entity expansion bombs such as "billion laughs"), a node limit,
//! and a strict shape: `<methodCall>` naming `pingback.ping` with exactly two string parameters.
//! Errors carry the XML-RPC fault code the caller answers with.

use roxmltree::{Document, Node, ParsingOptions};

/// Bodies above this are refused before parsing.
pub const MAX_BODY: usize = 32 * 1024;

/// A well-formed call has a few dozen nodes; this bounds memory on hostile input well below
/// what even `MAX_BODY` could hold.
const NODES_LIMIT: u32 = 4096;

/// The two parameters of `pingback.ping(sourceURI, targetURI)`, whitespace-trimmed, not yet
/// checked as URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingbackCall {
    pub source: String,
    pub target: String,
}

/// Why a body is not a usable `pingback.ping` call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("request body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("DTDs and entity declarations are not accepted")]
    Doctype,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    #[error("root element is not <methodCall>")]
    NotAMethodCall,
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    #[error("bad parameters: {0}")]
    BadParams(String),
}

impl CallError {
    /// The XML-RPC fault code for this error, per the "specification for fault code
    /// interoperability": -32700 parse error, -32601 method not found, -32602 invalid params.
    pub fn fault_code(&self) -> i32 {
        match self {
            CallError::TooLarge
            | CallError::Doctype
            | CallError::Malformed(_)
            | CallError::NotAMethodCall => -32700,
            CallError::UnknownMethod(_) => -32601,
            CallError::BadParams(_) => -32602,
        }
    }
}

/// Reads a `pingback.ping` call from an XML-RPC request body.
pub fn parse_pingback(body: &[u8]) -> Result<PingbackCall, CallError> {
    if body.len() > MAX_BODY {
        return Err(CallError::TooLarge);
    }
    // Refused before parsing: cheaper than parsing a bomb, and catches the DOCTYPEs without an
    // internal subset that roxmltree would let through.
    if contains_ignore_ascii_case(body, b"<!DOCTYPE")
        || contains_ignore_ascii_case(body, b"<!ENTITY")
    {
        return Err(CallError::Doctype);
    }
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let (line, col) = line_col(&body[..e.valid_up_to()]);
            return Err(CallError::Malformed(format!(
                "invalid UTF-8 at {line}:{col}"
            )));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| xml_error(e, text))?;
    let root = doc.root_element();
    if !is_named(root, "methodCall") {
        return Err(CallError::NotAMethodCall);
    }
    let method = root
        .children()
        .find(|n| is_named(*n, "methodName"))
        .ok_or(CallError::NotAMethodCall)?;
    let method = text_of(method).trim().to_string();
    if method != "pingback.ping" {
        return Err(CallError::UnknownMethod(truncate(&method, 100)));
    }
    let params = match root.children().find(|n| is_named(*n, "params")) {
        Some(params) => read_params(params)?,
        None => Vec::new(),
    };
    match <[String; 2]>::try_from(params) {
        Ok([source, target]) => Ok(PingbackCall { source, target }),
        Err(params) => Err(CallError::BadParams(format!(
            "expected 2 parameters (sourceURI, targetURI), got {}",
            params.len()
        ))),
    }
}

/// A `methodResponse` carrying one string: the answer to a successful ping.
pub fn success(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><string>{}</string></value></param></params></methodResponse>",
        escape(message)
    )
}

/// A `methodResponse` carrying a fault (Pingback 1.0 defines codes such as 0x0011 "source does
/// not link to target"; parse errors use the negative interoperability codes).
pub fn fault(code: i32, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>{code}</int></value></member><member><name>faultString</name><value><string>{}</string></value></member></struct></value></fault></methodResponse>",
        escape(message)
    )
}

fn read_params(params: Node) -> Result<Vec<String>, CallError> {
    let mut out = Vec::new();
    for child in params.children() {
        if child.is_element() {
            if !is_named(child, "param") {
                return Err(CallError::BadParams(format!(
                    "unexpected <{}> in <params>",
                    truncate(child.tag_name().name(), 40)
                )));
            }
            let n = out.len() + 1;
            if n > 2 {
                return Err(CallError::BadParams(
                    "expected 2 parameters (sourceURI, targetURI), got more".to_string(),
                ));
            }
            out.push(read_param(child, n)?);
        } else if child.is_text() && !text_is_blank(child) {
            return Err(CallError::BadParams("text outside <param>".to_string()));
        }
    }
    Ok(out)
}

fn read_param(param: Node, n: usize) -> Result<String, CallError> {
    let mut values = param.children().filter(|c| c.is_element());
    let value = match (values.next(), values.next()) {
        (Some(value), None) if is_named(value, "value") => value,
        _ => {
            return Err(CallError::BadParams(format!(
                "parameter {n} is not a single <value>"
            )))
        }
    };
    let mut typed = value.children().filter(|c| c.is_element());
    let s = match (typed.next(), typed.next()) {
        // XML-RPC: a <value> without a type element is a string.
        (None, _) => text_of(value),
        (Some(string), None) if is_named(string, "string") => {
            if value.children().any(|c| c.is_text() && !text_is_blank(c)) {
                return Err(CallError::BadParams(format!(
                    "parameter {n} mixes text and <string>"
                )));
            }
            if string.children().any(|c| c.is_element()) {
                return Err(CallError::BadParams(format!(
                    "parameter {n} has markup inside <string>"
                )));
            }
            text_of(string)
        }
        (Some(other), None) => {
            return Err(CallError::BadParams(format!(
                "parameter {n} is <{}>, not a string",
                truncate(other.tag_name().name(), 40)
            )))
        }
        _ => {
            return Err(CallError::BadParams(format!(
                "parameter {n} has several values"
            )))
        }
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(CallError::BadParams(format!("parameter {n} is empty")));
    }
    Ok(s.to_string())
}

fn is_named(node: Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace().is_none()
}

/// The concatenated text (and CDATA) children of an element.
fn text_of(node: Node) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn text_is_blank(node: Node) -> bool {
    node.text().is_none_or(|t| t.trim().is_empty())
}

fn xml_error(e: roxmltree::Error, text: &str) -> CallError {
    match e {
        roxmltree::Error::DtdDetected | roxmltree::Error::EntityReferenceLoop(_) => {
            CallError::Doctype
        }
        // These carry no position of their own: the input simply ended too early.
        roxmltree::Error::UnexpectedEndOfStream
        | roxmltree::Error::UnclosedRootNode
        | roxmltree::Error::NoRootNode => {
            let (line, col) = line_col(text.as_bytes());
            CallError::Malformed(format!("{e} at {line}:{col} (end of input)"))
        }
        roxmltree::Error::NodesLimitReached => {
            CallError::Malformed(format!("more than {NODES_LIMIT} nodes"))
        }
        // roxmltree's messages already end in "at line:col".
        e => CallError::Malformed(e.to_string()),
    }
}

/// 1-based line and column (in characters) just past `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
    let last_line = match prefix.iter().rposition(|&b| b == b'\n') {
        Some(i) => &prefix[i + 1..],
        None => prefix,
    };
    // Count characters, not bytes: continuation bytes do not start a column.
    let col = 1 + last_line.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    (line, col)
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Escapes text for element content, dropping characters XML 1.0 cannot carry at all so the
/// response always parses.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_CALL: &str = "<?xml version='1.0'?>\n<methodCall>\n<methodName>pingback.ping</methodName>\n<params>\n<param>\n<value><string>http://a.example/p</string></value>\n</param>\n<param>\n<value><string>http://b.example/q</string></value>\n</param>\n</params>\n</methodCall>\n";

    fn call(params: &str) -> String {
        format!("<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params>{params}</params></methodCall>")
    }

    #[test]
    fn parses_a_call_as_python_xmlrpc_client_sends_it() {
        assert_eq!(
            parse_pingback(PYTHON_CALL.as_bytes()),
            Ok(PingbackCall {
                source: "http://a.example/p".to_string(),
                target: "http://b.example/q".to_string(),
            })
        );
    }

    #[test]
    fn bare_values_are_strings_and_are_trimmed() {
        let body = call(
            "<param><value>\n  http://a.example/p </value></param><param><value><string> http://b.example/q\n</string></value></param>",
        );
        let got = parse_pingback(body.as_bytes()).unwrap();
        assert_eq!(got.source, "http://a.example/p");
        assert_eq!(got.target, "http://b.example/q");
    }

    #[test]
    fn entities_and_cdata_in_strings_are_decoded() {
        let body = call(
            "<param><value><string>http://a.example/p?x=1&amp;y=2</string></value></param><param><value><string><![CDATA[http://b.example/q]]></string></value></param>",
        );
        let got = parse_pingback(body.as_bytes()).unwrap();
        assert_eq!(got.source, "http://a.example/p?x=1&y=2");
        assert_eq!(got.target, "http://b.example/q");
    }

    #[test]
    fn billion_laughs_is_refused_as_doctype_quickly() {
        let mut dtd =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 2..=9 {
            let prev = if i == 2 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            let refs = format!("&{prev};").repeat(10);
            dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">\n"));
        }
        dtd.push_str("]>\n<methodCall><methodName>&lol9;</methodName></methodCall>");
        let started = std::time::Instant::now();
        assert_eq!(parse_pingback(dtd.as_bytes()), Err(CallError::Doctype));
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        assert_eq!(CallError::Doctype.fault_code(), -32700);
    }

    #[test]
    fn xxe_is_refused_as_doctype() {
        let body = "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<methodCall><methodName>pingback.ping</methodName><params><param><value><string>&xxe;</string></value></param><param><value><string>http://b.example/q</string></value></param></params></methodCall>";
        assert_eq!(parse_pingback(body.as_bytes()), Err(CallError::Doctype));
    }

    #[test]
    fn doctype_without_internal_subset_is_refused_too() {
        let body = format!(
            "<!DOCTYPE methodCall SYSTEM \"http://evil.example/x.dtd\">{}",
            call("").trim_start_matches("<?xml version=\"1.0\"?>")
        );
        assert_eq!(parse_pingback(body.as_bytes()), Err(CallError::Doctype));
    }

    #[test]
    fn dtd_detected_by_the_parser_maps_to_doctype() {
        let e = roxmltree::Document::parse_with_options(
            "<!DOCTYPE a [<!ENTITY b \"c\">]><a/>",
            ParsingOptions {
                allow_dtd: false,
                nodes_limit: NODES_LIMIT,
            },
        )
        .unwrap_err();
        assert_eq!(xml_error(e, ""), CallError::Doctype);
    }

    #[test]
    fn wrong_method_is_unknown_method() {
        let body = PYTHON_CALL.replace("pingback.ping", "system.listMethods");
        let err = parse_pingback(body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            CallError::UnknownMethod("system.listMethods".to_string())
        );
        assert_eq!(err.fault_code(), -32601);
    }

    #[test]
    fn root_other_than_method_call_is_refused() {
        let err = parse_pingback(b"<methodResponse><params/></methodResponse>").unwrap_err();
        assert_eq!(err, CallError::NotAMethodCall);
        assert_eq!(err.fault_code(), -32700);
    }

    #[test]
    fn one_param_is_bad_params() {
        let body = call("<param><value><string>http://a.example/p</string></value></param>");
        let err = parse_pingback(body.as_bytes()).unwrap_err();
        assert!(matches!(err, CallError::BadParams(_)), "{err:?}");
        assert_eq!(err.fault_code(), -32602);
        let none = call("");
        assert!(matches!(
            parse_pingback(none.as_bytes()),
            Err(CallError::BadParams(_))
        ));
        let three = call(&"<param><value>x</value></param>".repeat(3));
        assert!(matches!(
            parse_pingback(three.as_bytes()),
            Err(CallError::BadParams(_))
        ));
    }

    #[test]
    fn int_param_is_bad_params() {
        let body = call(
            "<param><value><string>http://a.example/p</string></value></param><param><value><int>42</int></value></param>",
        );
        let err = parse_pingback(body.as_bytes()).unwrap_err();
        assert!(
            matches!(err, CallError::BadParams(ref m) if m.contains("int")),
            "{err:?}"
        );
    }

    #[test]
    fn oversize_body_is_refused_before_parsing() {
        let mut body = PYTHON_CALL.as_bytes().to_vec();
        body.resize(MAX_BODY + 1, b' ');
        assert_eq!(parse_pingback(&body), Err(CallError::TooLarge));
        assert_eq!(CallError::TooLarge.fault_code(), -32700);
        // Trailing whitespace up to the limit is still fine.
        body.truncate(MAX_BODY);
        assert!(parse_pingback(&body).is_ok());
    }

    #[test]
    fn truncated_xml_is_malformed_with_a_position() {
        let body = &PYTHON_CALL[..PYTHON_CALL.find("</params>").unwrap()];
        match parse_pingback(body.as_bytes()) {
            Err(CallError::Malformed(m)) => {
                assert!(
                    m.contains(':') && m.chars().any(|c| c.is_ascii_digit()),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        match parse_pingback(b"<methodCall><methodName>pingback.ping</methodNam") {
            Err(CallError::Malformed(m)) => assert!(m.contains("1:"), "{m}"),
            other => panic!("{other:?}"),
        }
        match parse_pingback(b"<methodCall>\n<methodName>x</wrong></methodCall>") {
            Err(CallError::Malformed(m)) => assert!(m.contains("2:"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_utf8_body_is_malformed() {
        let mut body = b"<methodCall>\n<methodName>ping".to_vec();
        body.push(0xff);
        assert_eq!(
            parse_pingback(&body),
            Err(CallError::Malformed("invalid UTF-8 at 2:17".to_string()))
        );
    }

    #[test]
    fn success_parses_back_and_escapes() {
        let xml = success("Thanks <b> & goodbye ]]> \u{1}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let s = doc
            .descendants()
            .find(|n| n.has_tag_name("string"))
            .and_then(|n| n.text())
            .unwrap();
        assert_eq!(s, "Thanks <b> & goodbye ]]> ");
        assert!(xml.contains("&lt;b&gt; &amp; goodbye"));
        assert!(xml
            .starts_with("<?xml version=\"1.0\"?><methodResponse><params><param><value><string>"));
    }

    #[test]
    fn fault_parses_back_and_escapes() {
        let xml = fault(17, "source <a> & target");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "methodResponse");
        let int = doc.descendants().find(|n| n.has_tag_name("int")).unwrap();
        assert_eq!(int.text(), Some("17"));
        let s = doc
            .descendants()
            .find(|n| n.has_tag_name("string"))
            .unwrap();
        assert_eq!(s.text(), Some("source <a> & target"));
        let names: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("name"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(names, ["faultCode", "faultString"]);
        assert!(fault(-32700, "x").contains("<int>-32700</int>"));
    }

    #[test]
    fn random_mutations_never_panic() {
        let base = PYTHON_CALL.as_bytes();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let specials: &[&[u8]] = &[
            b"<",
            b">",
            b"&",
            b"&amp;",
            b"&#0;",
            b"&#x110000;",
            b"<!DOCTYPE",
            b"<![CDATA[",
            b"]]>",
            b"</value>",
            b"<value>",
            b"<string>",
            b"<int>",
            b"\xff",
            b"\xe2\x80",
            b"\0",
            b"\"",
            b"<?xml",
            b"<!--",
            b"xmlns:a=\"x\"",
            b"</params></methodCall>",
        ];
        for _ in 0..2000 {
            let mut body = base.to_vec();
            for _ in 0..1 + next() % 6 {
                let pos = (next() % (body.len() as u64 + 1)) as usize;
                match next() % 4 {
                    0 if !body.is_empty() => {
                        let end = (pos + (next() % 16) as usize).min(body.len());
                        body.drain(pos.min(end)..end);
                    }
                    1 => body.insert(pos, next() as u8),
                    2 => {
                        let s = specials[(next() % specials.len() as u64) as usize];
                        body.splice(pos..pos, s.iter().copied());
                    }
                    _ if pos < body.len() => body[pos] = next() as u8,
                    _ => {}
                }
            }
            if let Err(e) = parse_pingback(&body) {
                let code = e.fault_code();
                assert!([-32700, -32601, -32602].contains(&code));
                let _ = e.to_string();
            }
        }
    }
}
