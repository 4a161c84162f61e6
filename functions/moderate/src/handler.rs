//! `GET /moderate?token=…` shows what the link will do, with a button; `POST /moderate`
//! (the token in the form) does it. Links are signed, expire, and work once.
//!
//! `GET /moderate/queue?token=…` lists every held comment, with a checkbox each and one
//! form; `POST /moderate/queue` (token, action, one `id` per ticked comment) acts on them
//! and sends the browser back to the list. The queue token is signed, expires, and works
//! until then. No answer here is cached or indexed.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::comments;
use shared::comments::moderation::{self, Action, Outcome};
use shared::comments::CommentStatus;
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
        code => match Action::from_code(code) {
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
    let mut resp = if web::route_path(&req) == "/moderate/queue" {
        queue(deps, req).await
    } else {
        single(deps, req).await
    };
    // Pages behind signed links: never for a search engine (`web` already says no-store).
    resp.headers_mut().insert(
        "x-robots-tag",
        lambda_http::http::HeaderValue::from_static("noindex"),
    );
    resp
}

/// The list of held comments, or the action on several of them.
async fn queue(deps: &Deps, req: Request) -> Response<Body> {
    let now = deps.clock.now();
    match *req.method() {
        lambda_http::http::Method::GET => {
            let token = web::query_param(&req, "token").unwrap_or_default();
            if let Err(e) = moderation::read_queue_link(&deps.signer, &token, now) {
                return page(deps, e.status(), "Link not valid", &e.to_string(), None).await;
            }
            let notice = web::query_param(&req, "done").and_then(|d| {
                let skipped = web::query_param(&req, "skipped")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                queue_notice(&d, skipped)
            });
            let held = match comments::with_status(deps.records.as_ref(), CommentStatus::Held).await
            {
                Ok(h) => h,
                Err(e) => return unavailable(deps, e).await,
            };
            match deps
                .pages
                .moderation_queue(&held, &token, notice.as_deref())
                .await
            {
                Ok(html) => web::html(200, html),
                Err(e) => {
                    warn!(error = %e, "could not render the moderation queue");
                    page(
                        deps,
                        503,
                        "Please try again",
                        "The list of comments could not be shown just now.",
                        None,
                    )
                    .await
                }
            }
        }
        lambda_http::http::Method::POST => {
            let json_wanted = web::wants_json(&req);
            let first = |name: &str| {
                web::form_values(&req, name).map(|v| v.into_iter().next().unwrap_or_default())
            };
            let (token, action, ids) = match (
                first("token"),
                first("action"),
                web::form_values(&req, "id"),
            ) {
                (Ok(t), Ok(a), Ok(i)) => (t, a, i),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    return web::text(e.status(), &e.to_string())
                }
            };
            if let Err(e) = moderation::read_queue_link(&deps.signer, &token, now) {
                return page(deps, e.status(), "Link not valid", &e.to_string(), None).await;
            }
            let queue_url = match deps.pages.config().await {
                Ok(c) => format!("{}/moderate/queue", c.api_url),
                Err(_) => "queue".into(),
            };
            // For a refusal: a button back to the list, with the token.
            let back = || {
                Some(MessageAction {
                    url: queue_url.clone(),
                    label: "Back to the list".into(),
                    method: "get",
                    fields: vec![HiddenField {
                        name: "token".into(),
                        value: token.clone(),
                    }],
                })
            };
            let Some(action) = Action::from_code(&action) else {
                return page(
                    deps,
                    400,
                    "Unknown action",
                    "Choose Approve, Mark as spam or Delete.",
                    back(),
                )
                .await;
            };
            let mut selected: Vec<(String, String)> = Vec::new();
            for value in &ids {
                let Some((post, id)) = value
                    .split_once('/')
                    .filter(|(p, i)| !p.is_empty() && !i.is_empty())
                else {
                    return page(
                        deps,
                        400,
                        "Not a comment",
                        &format!("“{value}” does not name a comment on the list."),
                        back(),
                    )
                    .await;
                };
                let pair = (post.to_string(), id.to_string());
                if !selected.contains(&pair) {
                    selected.push(pair);
                }
            }
            if selected.is_empty() {
                return page(
                    deps,
                    400,
                    "No comments selected",
                    "Tick the box beside each comment to act on, then choose what to do with them.",
                    back(),
                )
                .await;
            }
            let (mut done, mut skipped) = (0usize, 0usize);
            for (post, id) in &selected {
                // Only what the list showed: a comment moderated meanwhile (approved by
                // someone else, say) is left as it is.
                let outcome = match comments::get(deps.records.as_ref(), post, id).await {
                    Ok(Some(c)) if c.status == CommentStatus::Held => {
                        moderation::apply_to(deps.records.as_ref(), c, action, now).await
                    }
                    Ok(_) => Ok(Outcome::NoChange),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(Outcome::Done) => {
                        info!(comment = %id, action = ?action, "moderated from the list");
                        done += 1;
                    }
                    Ok(_) => skipped += 1,
                    Err(e) => return unavailable(deps, e).await,
                }
            }
            if json_wanted {
                return web::json(
                    200,
                    &json!({ "action": action.code(), "done": done, "skipped": skipped }),
                );
            }
            let mut location = format!(
                "{queue_url}?token={}&done={done}-{}",
                web::url_encode(&token).collect::<String>(),
                action.code()
            );
            if skipped > 0 {
                location.push_str(&format!("&skipped={skipped}"));
            }
            web::redirect(&location)
        }
        _ => web::text(405, "use GET or POST"),
    }
}

/// What the last action on the list did, from `done=<n>-<action>` (and `skipped=<k>`).
fn queue_notice(done: &str, skipped: usize) -> Option<String> {
    let (n, code) = done.split_once('-')?;
    let n: usize = n.parse().ok()?;
    let action = Action::from_code(code)?;
    let what = match action {
        Action::Approve => "approved",
        Action::Spam => "marked as spam",
        Action::Delete => "deleted",
    };
    let mut text = format!(
        "{n} {} {what}.",
        if n == 1 { "comment" } else { "comments" }
    );
    if action == Action::Approve && n > 0 {
        text.push_str(" Approved comments are on the site within a few seconds.");
    }
    if skipped > 0 {
        let was = if skipped == 1 { "was" } else { "were" };
        text.push_str(&format!(
            " {skipped} of the selected had already been moderated or deleted, and {was} left alone."
        ));
    }
    Some(text)
}

async fn unavailable(deps: &Deps, e: shared::ports::StoreError) -> Response<Body> {
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

/// A per-comment link: its confirmation page, or its action.
async fn single(deps: &Deps, req: Request) -> Response<Body> {
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
