//! A handler's answer, said once: each form function builds a [`Reply`] and turns it into
//! a response in one place, so a message page and its JSON, and the text shown when a page
//! cannot be rendered, are the same in every function. [`web`]'s constructors stay the low
//! level (the security headers live there).
//!
//! It sits in `site`, beside [`Pages`], because message pages are rendered with the theme.

use lambda_http::{Body, Response};
use serde_json::{json, Value};

use crate::http::fields::FieldErrors;
use crate::http::guard::Refusal;
use crate::http::web::{self, FormError};
use crate::ports::StoreError;
use crate::site::build::Pages;
use crate::site::render::{HiddenField, Message, MessageAction};

#[derive(Debug)]
pub enum Reply {
    /// The themed message page; to a script, `{"error"|"status": code, "message", "action"}`.
    /// (Boxed: a page and its button are most of a reply's size.)
    Message {
        status: u16,
        code: &'static str,
        message: Box<Message>,
    },
    /// Plain text; to a script, `{"error": code, "message": text}`.
    Plain {
        status: u16,
        code: &'static str,
        text: String,
    },
    /// A form's errors by field, with the status; to a browser whose form cannot be shown
    /// again, the messages as text, one a line; to a script, `{"errors": {field: message}}`.
    Errors(u16, FieldErrors),
    /// A status and this body, whoever asks.
    Html(u16, String),
    Text(u16, String),
    Json(u16, Value),
    /// 303: after a form that changed something, to a page the browser can reload.
    SeeOther(String),
}

impl Reply {
    pub fn message(
        status: u16,
        code: &'static str,
        heading: &str,
        body: impl Into<String>,
    ) -> Self {
        let (heading, body) = (heading.into(), body.into());
        let message = Box::new(Message {
            heading,
            body,
            action: None,
        });
        Self::Message {
            status,
            code,
            message,
        }
    }

    /// A message page's button: `method` (`"get"`, `"post"`) to `url`, with the `token` of
    /// the link that led here, if any, as a hidden field. Other replies have no button.
    pub fn button(
        mut self,
        method: &'static str,
        url: String,
        label: &str,
        token: Option<&str>,
    ) -> Self {
        if let Self::Message { message, .. } = &mut self {
            let fields = token.map(|t| HiddenField {
                name: "token".into(),
                value: t.into(),
            });
            message.action = Some(MessageAction {
                url,
                label: label.into(),
                method,
                fields: fields.into_iter().collect(),
            });
        }
        self
    }

    pub fn plain(status: u16, code: &'static str, text: impl Into<String>) -> Self {
        Self::Plain {
            status,
            code,
            text: text.into(),
        }
    }

    /// An error of the whole form (field `form`): nothing the visitor typed is at fault.
    pub fn form_error(status: u16, text: impl Into<String>) -> Self {
        let errors = FieldErrors::from([("form".to_string(), text.into())]);
        Self::Errors(status, errors)
    }

    /// `page_path`: where message pages say they are (canonical URL, quote banner).
    /// `json_wanted`: the caller is a script ([`web::wants_json`]).
    pub async fn respond(
        self,
        pages: &Pages,
        page_path: &str,
        json_wanted: bool,
    ) -> Response<Body> {
        match self {
            Self::Message {
                status,
                code,
                message,
            } if json_wanted => {
                let key = if status >= 400 { "error" } else { "status" };
                let mut v = json!({ key: code, "message": message.body });
                if let Some(a) = &message.action {
                    let fields = a
                        .fields
                        .iter()
                        .map(|f| (f.name.clone(), Value::from(f.value.clone())));
                    v["action"] = json!({
                        "label": a.label,
                        "method": a.method.to_ascii_uppercase(),
                        "url": a.url,
                        "fields": fields.collect::<serde_json::Map<_, _>>(),
                    });
                }
                web::json(status, &v)
            }
            Self::Message {
                status, message, ..
            } => match pages.message(page_path, &message).await {
                Ok(html) => web::html(status, html, pages.site_origin().await.as_deref()),
                Err(e) => {
                    tracing::error!(error = %e, "message page could not be rendered");
                    web::text(status, &format!("{}\n\n{}", message.heading, message.body))
                }
            },
            Self::Plain { status, code, text } if json_wanted => {
                web::json(status, &json!({ "error": code, "message": text }))
            }
            Self::Errors(status, errors) if json_wanted => {
                web::json(status, &json!({ "errors": errors }))
            }
            Self::Plain { status, text, .. } | Self::Text(status, text) => web::text(status, &text),
            Self::Errors(status, errors) => {
                let lines: Vec<String> = errors.into_values().collect();
                web::text(status, &lines.join("\n"))
            }
            Self::Html(status, html) => {
                web::html(status, html, pages.site_origin().await.as_deref())
            }
            Self::Json(status, value) => web::json(status, &value),
            Self::SeeOther(location) => web::redirect(&location),
        }
    }
}

/// A request that could not be read as a form: an error of the whole form.
impl From<FormError> for Reply {
    fn from(e: FormError) -> Self {
        Self::form_error(e.status(), e.to_string())
    }
}

/// The records store failed: worth trying again. Logged here, as the answer does not say why.
impl From<StoreError> for Reply {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "records store failed");
        let text = "We could not complete that just now; please try again in a few minutes.";
        Self::plain(503, "unavailable", text)
    }
}

/// A guard's refusal, on a page that says what to do.
impl From<Refusal> for Reply {
    fn from(r: Refusal) -> Self {
        let heading = "We could not accept that request";
        Self::message(r.status(), r.code(), heading, r.to_string())
    }
}

impl Refusal {
    /// What a script is told (`"error"`) beside the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Honeypot => "honeypot",
            Self::Token(_) => "form-token",
            Self::RateLimited => "rate-limited",
            Self::CaptchaRejected => "captcha",
            Self::CaptchaUnavailable => "captcha-unavailable",
            Self::Store(_) => "unavailable",
        }
    }
}
