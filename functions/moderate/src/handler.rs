//! `GET /moderate?token=…` shows what the link will do, with a button; `POST /moderate`
//! (the token in the form) does it. Links are signed, expire, and work once.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::comments;
use shared::comments::moderation::{self, Action, Outcome};
use shared::env::EnvError;
use shared::http::web;
use shared::ports::{Clock, ItemStore};
use shared::signing::Signer;
use shared::site::build::Pages;
use shared::site::render::{HiddenField, Message, MessageAction};
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub records: Arc<dyn ItemStore>,
    pub pages: Pages,
    pub signer: Signer,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            records: parts.records()?,
            pages: parts.pages()?,
            signer: parts.signer()?,
            clock: parts.clock(),
        })
    }
}

async fn page(
    deps: &Deps,
    status: u16,
    heading: &str,
    body: &str,
    action: Option<MessageAction>,
) -> Response<Body> {
    let msg = Message {
        heading: heading.into(),
        body: body.into(),
        action,
    };
    match deps.pages.message("moderate/", &msg).await {
        Ok(html) => web::html(status, html),
        Err(e) => {
            warn!(error = %e, "could not render the moderation page");
            web::text(status, &format!("{heading}\n\n{body}"))
        }
    }
}

/// What a moderation did, as the page after the redirect shows it (`?done=`).
async fn done_page(deps: &Deps, done: &str) -> Response<Body> {
    let text = match done {
        "nochange" => "Nothing to do: the comment was already in that state.".to_string(),
        "gone" => "The comment no longer exists.".to_string(),
        code => match Action::ALL.into_iter().find(|a| a.code() == code) {
            Some(a) => format!(
                "{}: done. The page is updated within a few seconds.",
                a.verb()
            ),
            None => {
                return page(
                    deps,
                    404,
                    "Not found",
                    "There is nothing at this address.",
                    None,
                )
                .await
            }
        },
    };
    page(deps, 200, "Thank you", &text, None).await
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let now = deps.clock.now();
    match *req.method() {
        lambda_http::http::Method::GET => {
            if let Some(done) = web::query_param(&req, "done") {
                return done_page(deps, &done).await;
            }
            let token = web::query_param(&req, "token").unwrap_or_default();
            let link = match moderation::read_link(&deps.signer, &token, now) {
                Ok(l) => l,
                Err(e) => {
                    return page(deps, e.status(), "Link not valid", &e.to_string(), None).await
                }
            };
            let comment = match comments::get(deps.records.as_ref(), &link.post, &link.id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return page(
                        deps,
                        404,
                        "Comment not found",
                        "This comment has already been deleted.",
                        None,
                    )
                    .await
                }
                Err(e) => {
                    warn!(error = %e, "records unavailable");
                    return page(
                        deps,
                        503,
                        "Please try again",
                        "The comment store is not answering just now.",
                        None,
                    )
                    .await;
                }
            };
            // Plain text into an escaped template: the comment cannot inject markup here.
            let body = format!(
                "{} by {} on “{}” (now {}):\n\n{}",
                link.action.verb(),
                comment.author,
                comment.post,
                comment.status.as_str(),
                comment.body_md.chars().take(2000).collect::<String>()
            );
            let url = match deps.pages.config().await {
                Ok(c) => format!("{}/moderate", c.api_url),
                Err(_) => "moderate".into(),
            };
            let action = MessageAction {
                url,
                label: link.action.verb().into(),
                method: "post",
                fields: vec![HiddenField {
                    name: "token".into(),
                    value: token,
                }],
            };
            page(
                deps,
                200,
                &format!("{} this comment?", link.action.verb()),
                &body,
                Some(action),
            )
            .await
        }
        lambda_http::http::Method::POST => {
            let json_wanted = web::wants_json(&req);
            let token = match web::parse_form(&req) {
                Ok(f) => f.get("token").to_string(),
                Err(e) => return web::text(e.status(), &e.to_string()),
            };
            let link = match moderation::read_link(&deps.signer, &token, now) {
                Ok(l) => l,
                Err(e) => {
                    return page(deps, e.status(), "Link not valid", &e.to_string(), None).await
                }
            };
            match moderation::use_link(deps.records.as_ref(), &link, deps.clock.now()).await {
                Ok(Err(used)) => {
                    page(
                        deps,
                        used.status(),
                        "Link already used",
                        &used.to_string(),
                        None,
                    )
                    .await
                }
                Ok(Ok(outcome)) => {
                    info!(comment = %link.id, action = ?link.action, outcome = ?outcome, "moderated");
                    if json_wanted {
                        return web::json(
                            200,
                            &json!({ "id": link.id, "outcome": format!("{outcome:?}") }),
                        );
                    }
                    // Sent on to a page the moderator can reload without acting again.
                    let done = match outcome {
                        Outcome::Done => link.action.code().to_string(),
                        Outcome::NoChange => "nochange".into(),
                        Outcome::Gone => "gone".into(),
                    };
                    match deps.pages.config().await {
                        Ok(c) => web::redirect(&format!("{}/moderate?done={done}", c.api_url)),
                        Err(_) => done_page(deps, &done).await,
                    }
                }
                Err(e) => {
                    warn!(error = %e, "records unavailable");
                    page(
                        deps,
                        503,
                        "Please try again",
                        "The comment store is not answering just now.",
                        None,
                    )
                    .await
                }
            }
        }
        _ => web::text(405, "use GET or POST"),
    }
}
