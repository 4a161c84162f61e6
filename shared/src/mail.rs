//! Mail as bytes: one RFC 5322 formatter, so SES and the local outbox send the same message.
//! Header values are stripped of line breaks (no header injection), the subject is encoded
//! when it is not ASCII, and the text body is quoted-printable.

use base64::Engine;
use time::OffsetDateTime;

use crate::ports::OutgoingMail;

/// A plain-text mail. `to` is only ever an address: names typed into forms never go into
/// headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// RFC 8058 one-click unsubscribe URL, sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub unsubscribe_url: Option<String>,
}

fn header_value(v: &str) -> String {
    v.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn encode_subject(s: &str) -> String {
    let s = header_value(s);
    if s.is_ascii() {
        s
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        )
    }
}

/// Quoted-printable (RFC 2045), lines of at most 76 characters.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.replace("\r\n", "\n").split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut col = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let enc = if (b == b' ' || b == b'\t') && last
                || b == b'='
                || !(32..=126).contains(&b) && b != b'\t'
            {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
    }
    out
}

/// Decode quoted-printable (for tests and the outbox reader).
pub fn decode_quoted_printable(qp: &str) -> String {
    let mut out = Vec::new();
    let joined = qp.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            // By bytes: the two after `=` may be the start of a multi-byte character.
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

impl Mail {
    /// The message bytes. `message_id` must be unique (callers use a random token).
    pub fn to_outgoing(&self, now: OffsetDateTime, message_id: &str) -> OutgoingMail {
        let domain = self
            .from
            .rsplit_once('@')
            .map(|(_, d)| header_value(d))
            .unwrap_or_else(|| "localhost".into());
        let date = now
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let mut m = String::new();
        m.push_str(&format!("From: {}\r\n", header_value(&self.from)));
        m.push_str(&format!("To: {}\r\n", header_value(&self.to)));
        m.push_str(&format!("Subject: {}\r\n", encode_subject(&self.subject)));
        m.push_str(&format!("Date: {date}\r\n"));
        m.push_str(&format!(
            "Message-ID: <{}@{domain}>\r\n",
            header_value(message_id)
        ));
        if let Some(u) = &self.unsubscribe_url {
            m.push_str(&format!("List-Unsubscribe: <{}>\r\n", header_value(u)));
            m.push_str("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
        }
        m.push_str("MIME-Version: 1.0\r\n");
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        m.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        m.push_str(&quoted_printable(&self.text));
        m.push_str("\r\n");
        OutgoingMail {
            to: self.to.clone(),
            raw: m.into_bytes(),
        }
    }
}

/// A parsed message from the outbox (or moto's record of SES mail): headers and decoded text.
#[derive(Debug, Clone)]
pub struct ReadMail {
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl ReadMail {
    pub fn parse(raw: &[u8]) -> ReadMail {
        let s = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (head, body) = s.split_once("\n\n").unwrap_or((&s, ""));
        let headers = head
            .lines()
            .filter_map(|l| {
                l.split_once(": ")
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        ReadMail {
            headers,
            text: decode_quoted_printable(body),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every URL in the text.
    pub fn links(&self) -> Vec<String> {
        self.text
            .split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Found by fuzzing (`fuzz/` target `mail`): `=` followed by a character whose UTF-8
    /// bytes straddle the two "hex digits" sliced the text inside that character and
    /// panicked, so one odd message stopped the outbox reader.
    #[test]
    fn decoding_an_equals_before_a_multibyte_character_keeps_it() {
        assert_eq!(decode_quoted_printable("=a\u{e9}"), "=a\u{e9}");
        assert_eq!(decode_quoted_printable("=\u{e9}x"), "=\u{e9}x");
        assert_eq!(decode_quoted_printable("=+1=C3=A9"), "=+1\u{e9}");
        let read = ReadMail::parse("Subject: x\n\nprice =a\u{e9}".as_bytes());
        assert_eq!(read.text, "price =a\u{e9}");
    }

    #[test]
    fn formats_a_mail_that_reads_back() {
        let mail = Mail {
            from: "Site <hello@example.org>".into(),
            to: "someone@example.net\r\nBcc: victim@example.com".into(),
            subject: "Café news\r\nX-Injected: 1".into(),
            text: format!(
                "Hello Zoë,\n\nconfirm: https://example.org/c?token=abc=def\n{}",
                "long ".repeat(40)
            ),
            unsubscribe_url: Some("https://api.example.org/unsubscribe?t=1".into()),
        };
        let out = mail.to_outgoing(datetime!(2026-11-20 10:00 UTC), "m1");
        let raw = String::from_utf8(out.raw.clone()).unwrap();
        assert!(!raw.contains("\r\nBcc:"), "no header injection: {raw}");
        assert!(!raw.contains("\r\nX-Injected"), "{raw}");
        assert!(raw.contains("Subject: =?UTF-8?B?"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.lines().all(|l| l.len() <= 998));
        let read = ReadMail::parse(&out.raw);
        assert!(read.text.contains("Hello Zoë,"), "{}", read.text);
        assert!(
            read.links()
                .contains(&"https://example.org/c?token=abc=def".to_string()),
            "{:?}",
            read.links()
        );
        assert_eq!(
            read.header("list-unsubscribe"),
            Some("<https://api.example.org/unsubscribe?t=1>")
        );
    }
}
