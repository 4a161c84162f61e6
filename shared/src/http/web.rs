//! HTTP glue shared by the form functions (comments, sign-up, moderation): reading form
//! posts and JSON, the client IP from the API Gateway request context (never from a header),
//! and the responses (HTML page, JSON, redirect).

use std::collections::BTreeMap;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use crate::http::security_headers;

/// Largest request body a form endpoint reads.
pub const MAX_BODY: usize = 64 * 1024;

/// The client's IP as API Gateway saw the connection. `X-Forwarded-For` and similar headers
/// are set by the client and are never consulted.
pub fn client_ip(req: &Request) -> Option<String> {
    // Only the HTTP API (v2) is enabled, so this is the one variant.
    #[allow(irrefutable_let_patterns)]
    let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref()?
    else {
        return None;
    };
    ctx.http.source_ip.clone()
}

/// Does the caller want JSON back (a script) rather than a page (a browser form)?
pub fn wants_json(req: &Request) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    header("content-type").starts_with("application/json")
        || (header("accept").contains("application/json")
            && !header("accept").contains("text/html"))
}

/// A request that could not be read as a form.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormError {
    #[error("send the form as application/x-www-form-urlencoded or application/json")]
    UnsupportedType,
    #[error("the request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request body is not valid {0}")]
    Malformed(&'static str),
}

impl FormError {
    pub fn status(&self) -> u16 {
        match self {
            Self::UnsupportedType => 415,
            Self::TooLarge => 413,
            Self::Malformed(_) => 400,
        }
    }
}

/// Submitted fields. For a repeated field the first value counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormData(pub BTreeMap<String, String>);

impl FormData {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// A checkbox or JSON boolean.
    pub fn flag(&self, name: &str) -> bool {
        matches!(
            self.get(name).to_ascii_lowercase().as_str(),
            "yes" | "on" | "true" | "1"
        )
    }
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The body (refused when larger than [`MAX_BODY`]) and the content type, lower-cased.
fn checked_body(req: &Request) -> Result<(&[u8], String), FormError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY {
        return Err(FormError::TooLarge);
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok((bytes, ct))
}

/// Read a form post or a JSON object.
pub fn parse_form(req: &Request) -> Result<FormData, FormError> {
    let (bytes, ct) = checked_body(req)?;
    let mut out = BTreeMap::new();
    if ct.starts_with("application/x-www-form-urlencoded") {
        if std::str::from_utf8(bytes).is_err() {
            return Err(FormError::Malformed("UTF-8"));
        }
        for (k, v) in url::form_urlencoded::parse(bytes) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    } else if ct.starts_with("application/json") {
        let v: Value = serde_json::from_slice(bytes).map_err(|_| FormError::Malformed("JSON"))?;
        let Value::Object(map) = v else {
            return Err(FormError::Malformed("JSON (an object is expected)"));
        };
        for (k, v) in map {
            let s = match v {
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Null => String::new(),
                _ => {
                    return Err(FormError::Malformed(
                        "JSON (field values must be strings, numbers or booleans)",
                    ))
                }
            };
            out.insert(k, s);
        }
    } else {
        return Err(FormError::UnsupportedType);
    }
    Ok(FormData(out))
}

/// Every value of one field, in the order sent: a repeated field (checkboxes sharing a
/// name), which [`parse_form`] reads as its first value only. From a form post, or from a
/// JSON object (a string, number or boolean, or an array of them). An absent field gives
/// no values.
pub fn form_values(req: &Request, name: &str) -> Result<Vec<String>, FormError> {
    let (bytes, ct) = checked_body(req)?;
    if ct.starts_with("application/x-www-form-urlencoded") {
        if std::str::from_utf8(bytes).is_err() {
            return Err(FormError::Malformed("UTF-8"));
        }
        Ok(url::form_urlencoded::parse(bytes)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect())
    } else if ct.starts_with("application/json") {
        let v: Value = serde_json::from_slice(bytes).map_err(|_| FormError::Malformed("JSON"))?;
        let Value::Object(mut map) = v else {
            return Err(FormError::Malformed("JSON (an object is expected)"));
        };
        let scalar = |v: Value| match v {
            Value::String(s) => Ok(s),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(FormError::Malformed(
                "JSON (field values must be strings, numbers or booleans, or arrays of them)",
            )),
        };
        match map.remove(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.into_iter().map(scalar).collect(),
            Some(v) => Ok(vec![scalar(v)?]),
        }
    } else {
        Err(FormError::UnsupportedType)
    }
}

/// A path parameter (`{slug}` in the API Gateway route).
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

/// The path a request was made to: the raw path API Gateway matched (without a stage
/// prefix), else the URI's path (the local server, `cargo lambda watch`); no trailing
/// slash.
pub fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let p = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        "/".into()
    } else {
        p.to_string()
    }
}

/// `value` percent-encoded for a query string.
pub fn url_encode(value: &str) -> impl Iterator<Item = &str> {
    url::form_urlencoded::byte_serialize(value.as_bytes())
}

/// A query-string parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

/// The security headers ([`security_headers`]) and `no-store` on every reply. `site`: the
/// site's origin, for a page served from the API's address (its stylesheet, photos and
/// links are the site's); `None` for what is not a page of the site.
fn with_security_headers(
    b: http::response::Builder,
    site: Option<&str>,
) -> http::response::Builder {
    let origins = security_headers::Origins { site, api: None };
    security_headers::headers(origins)
        .into_iter()
        .fold(b, |b, (name, value)| b.header(name, value))
        .header("cache-control", "no-store")
}

/// A page of the site, served from the API's address; `site_origin`: the site's origin
/// (`base_url`'s), which the page's policy allows beside the API's own.
pub fn html(status: u16, page: String, site_origin: Option<&str>) -> Response<Body> {
    with_security_headers(Response::builder().status(status), site_origin)
        .header("content-type", "text/html; charset=utf-8")
        .body(Body::Text(page))
        .expect("valid response")
}

pub fn json(status: u16, value: &Value) -> Response<Body> {
    with_security_headers(Response::builder().status(status), None)
        .header("content-type", "application/json")
        .body(Body::Text(value.to_string()))
        .expect("valid response")
}

pub fn redirect(location: &str) -> Response<Body> {
    with_security_headers(Response::builder().status(303), None)
        .header("location", location)
        .body(Body::Empty)
        .expect("valid response")
}

pub fn text(status: u16, msg: &str) -> Response<Body> {
    with_security_headers(Response::builder().status(status), None)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text(msg.to_string()))
        .expect("valid response")
}
