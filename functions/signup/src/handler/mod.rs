//! Routes (API Gateway HTTP API, or the local server at the same paths):
//!
//! | Route | What |
//! |---|---|
//! | `POST /signup` | the sign-up form (urlencoded or JSON): validate, guard, queue it for the sender (`functions/supporter-mail`: stores it pending, mails a link) |
//! | `GET /signup/confirm?token=` | a page with a "Confirm" button; changes nothing (mail scanners follow links) |
//! | `POST /signup/confirm` | confirms (`token` in the form or the query) |
//! | `GET /unsubscribe?token=` | the manage page: stop the newsletter, or remove me entirely |
//! | `POST /unsubscribe?token=` | RFC 8058 one-click (`List-Unsubscribe=One-Click`) and the page's button: stop the newsletter at once (an unconfirmed sign-up is cancelled instead) |
//! | `POST /signup/remove` | erase the supporter, keep only the keyed hash |
//! | `GET /signup/my-data?token=` | a page with an "Email me my details" button |
//! | `POST /signup/my-data` | queue a copy of the supporter's data, as JSON, for the sender to mail to the confirmed address (`token`, or `email` with the captcha) |
//!
//! Every route answers a page for browsers and JSON when the caller sends or asks for JSON.
//! This function sends no mail: `POST /signup` and `POST /signup/my-data` answer every
//! visitor the same, after the same work (the rate limit, then one request record, a
//! [`MailRequest`](shared::supporters::MailRequest)), whether the address is unknown,
//! pending, confirmed or erased, and whether or not SES is working.
//! Nothing here returns an error to the runtime: failures become responses.
//! Responses and logs never carry an address or an IP (only keyed hashes are logged); the
//! one exception is the sign-up form re-shown, with the visitor's own text, to the visitor.

use std::collections::{BTreeMap, HashMap};

use http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::http::guard::Refusal;
use shared::http::web::{self, FormData};
use shared::site::config::SiteConfig;
use shared::site::render::FormState;
use shared::site::reply::Reply;
use shared::supporters::{self as sup, ManageLookup, Status, TokenProblem};

pub use crate::Deps;

mod confirm;
mod done;
pub use done::Outcome;
mod my_data;
mod signup;
mod unsubscribe;

/// The form name the sign-up page's token is made for.
pub const FORM_NAME: &str = "signup";
/// Where message pages say they are (canonical URL, quote banner).
const PAGE_PATH: &str = "signup/";

/// The function's routes: one table, used here and by the local server to send it the
/// same requests API Gateway would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Signup,
    Confirm,
    Unsubscribe,
    Remove,
    MyData,
    Done,
}

impl Route {
    /// Every route, with its path and the methods it answers.
    pub const ALL: [(Route, &'static str, &'static [Method]); 6] = [
        (Route::Signup, "/signup", &[Method::POST]),
        (
            Route::Confirm,
            "/signup/confirm",
            &[Method::GET, Method::POST],
        ),
        (
            Route::Unsubscribe,
            "/unsubscribe",
            &[Method::GET, Method::POST],
        ),
        (Route::Remove, "/signup/remove", &[Method::POST]),
        (
            Route::MyData,
            "/signup/my-data",
            &[Method::GET, Method::POST],
        ),
        (Route::Done, "/signup/done", &[Method::GET]),
    ];

    /// The route at `path` (no trailing slash), whatever the method.
    pub fn at(path: &str) -> Option<(Route, &'static [Method])> {
        Self::ALL
            .iter()
            .find(|(_, p, _)| *p == path)
            .map(|(r, _, methods)| (*r, *methods))
    }

    /// Does this function answer `method` at `path`? (`GET /signup/` is the static page.)
    pub fn serves(method: &Method, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        Self::at(path).is_some_and(|(_, methods)| methods.contains(method) || path != "/signup")
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let cx = Cx {
        deps,
        json: web::wants_json(&req),
    };
    let Some((route, methods)) = Route::at(&web::route_path(&req)) else {
        return not_found().respond(&deps.pages, PAGE_PATH, cx.json).await;
    };
    let reply = match (route, req.method().clone()) {
        (Route::Signup, Method::POST) => cx.signup(&req).await,
        (Route::Confirm, Method::GET) => cx.confirm_page(&req).await,
        (Route::Confirm, Method::POST) => cx.confirm(&req).await,
        (Route::Unsubscribe, Method::GET) => cx.manage_page(&req).await,
        (Route::Unsubscribe, Method::POST) => cx.unsubscribe(&req).await,
        (Route::Remove, Method::POST) => cx.remove(&req).await,
        (Route::MyData, Method::GET) => cx.my_data_page(&req).await,
        (Route::MyData, Method::POST) => cx.my_data(&req).await,
        (Route::Done, Method::GET) => cx.done_page(&req).await,
        _ => {
            let text = "That method is not allowed here.";
            let reply = Reply::plain(405, "method-not-allowed", text);
            let mut resp = reply.respond(&deps.pages, PAGE_PATH, cx.json).await;
            let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
            resp.headers_mut().insert(
                "allow",
                http::HeaderValue::from_str(&allow.join(", "))
                    .unwrap_or_else(|_| http::HeaderValue::from_static("POST")),
            );
            return resp;
        }
    };
    let reply = reply.unwrap_or_else(|r| r);
    reply.respond(&deps.pages, PAGE_PATH, cx.json).await
}

fn not_found() -> Reply {
    Reply::plain(404, "not-found", "There is nothing at this address.")
}

/// The token of a link: from the form, else from the query string.
fn token_of(req: &Request, form: Option<&FormData>) -> String {
    form.map(|f| f.get("token").trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| web::query_param(req, "token"))
        .unwrap_or_default()
}

struct Cx<'a> {
    deps: &'a Deps,
    json: bool,
}

/// Stop handling a request with this answer.
type Flow<T> = Result<T, Reply>;

impl Cx<'_> {
    /// The sign-up form again, errors beside fields, the visitor's text kept.
    pub(super) async fn signup_form(
        &self,
        status: u16,
        code: &str,
        notice: &str,
        errors: BTreeMap<String, String>,
        values: HashMap<String, String>,
        sent_token: &str,
    ) -> Reply {
        if self.json {
            let value = json!({ "error": code, "message": notice, "errors": errors });
            return Reply::Json(status, value);
        }
        let token = self.deps.guard.forms.token_for_reshown_form(
            FORM_NAME,
            sent_token,
            self.deps.clock.now(),
        );
        let state = FormState {
            errors: errors.into_iter().collect(),
            values,
            notice: Some(notice.to_string()),
        };
        match self.deps.pages.signup_with_form(&token, &state).await {
            Ok(html) => Reply::Html(status, html),
            Err(e) => {
                tracing::error!(error = %e, "sign-up page could not be rendered");
                Reply::Text(status, notice.into())
            }
        }
    }

    pub(super) async fn config(&self) -> Flow<SiteConfig> {
        self.deps.pages.config().await.map_err(|e| {
            tracing::error!(error = %e, "site configuration could not be read");
            let text = "The site is not available just now; please try again in a few minutes.";
            Reply::plain(503, "unavailable", text)
        })
    }

    pub(super) async fn manage_lookup(&self, token: &str) -> Flow<ManageLookup> {
        Ok(
            sup::find_by_manage_token(self.deps.records.as_ref(), &self.deps.supporters, token)
                .await?,
        )
    }

    pub(super) fn bad_manage_link(&self) -> Reply {
        Reply::message(
            400,
            "invalid-link",
            "This link does not work",
            "The link is not valid. Please use the link in the most recent email we sent you.",
        )
    }

    pub(super) fn not_on_list(&self) -> Reply {
        Reply::message(
            200,
            "not-on-list",
            "You are not on our list",
            "We hold no details for this link: they have been removed already, or the sign-up \
             was never confirmed. We will not email you.",
        )
    }
}
