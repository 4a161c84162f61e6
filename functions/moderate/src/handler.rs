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
use shared::comments::moderation::{self, Action, LinkError, Outcome};
use shared::comments::CommentStatus;
use shared::env::EnvError;
use shared::http::web;
use shared::ports::{Clock, ItemStore, StoreError};
use shared::signing::ModerationKey;
use shared::site::build::Pages;
use shared::site::reply::Reply;
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub records: Arc<dyn ItemStore>,
    pub pages: Pages,
    pub moderation: ModerationKey,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            records: parts.records()?,
            pages: parts.pages()?,
            moderation: parts.moderation_key()?,
            clock: parts.clock(),
        })
    }
}

/// Every moderation page says this when the comment store fails.
fn unavailable(e: StoreError) -> Reply {
    warn!(error = %e, "records unavailable");
    let text = "The comment store is not answering just now.";
    Reply::message(503, "unavailable", "Please try again", text)
}

fn bad_link(e: LinkError) -> Reply {
    Reply::message(e.status(), "invalid-link", "Link not valid", e.to_string())
}

/// What a moderation did, as the page after the redirect shows it (`?done=`).
fn done_page(done: &str) -> Reply {
    let text = match done {
        "nochange" => "Nothing to do: the comment was already in that state.".to_string(),
        "gone" => "The comment no longer exists.".to_string(),
        code => match Action::from_code(code) {
            Some(a) => format!(
                "{}: done. The page is updated within a few seconds.",
                a.verb()
            ),
            None => {
                let text = "There is nothing at this address.";
                return Reply::message(404, "not-found", "Not found", text);
            }
        },
    };
    Reply::message(200, "done", "Thank you", text)
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let reply = if web::route_path(&req) == "/moderate/queue" {
        queue(deps, req).await
    } else {
        single(deps, req).await
    };
    // Pages even to a script (whose answers below are JSON where it matters).
    let reply = reply.unwrap_or_else(|r| r);
    let mut resp = reply.respond(&deps.pages, "moderate/", false).await;
    // Pages behind signed links: never for a search engine (`web` already says no-store).
    resp.headers_mut().insert(
        "x-robots-tag",
        lambda_http::http::HeaderValue::from_static("noindex"),
    );
    resp
}

/// The list of held comments, or the action on several of them.
async fn queue(deps: &Deps, req: Request) -> Result<Reply, Reply> {
    let now = deps.clock.now();
    match *req.method() {
        lambda_http::http::Method::GET => {
            let token = web::query_param(&req, "token").unwrap_or_default();
            moderation::read_queue_link(&deps.moderation, &token, now).map_err(bad_link)?;
            let notice = web::query_param(&req, "done").and_then(|d| {
                let skipped = web::query_param(&req, "skipped")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                queue_notice(&d, skipped)
            });
            let held = comments::with_status(deps.records.as_ref(), CommentStatus::Held)
                .await
                .map_err(unavailable)?;
            match deps
                .pages
                .moderation_queue(&held, &token, notice.as_deref())
                .await
            {
                Ok(html) => Ok(Reply::Html(200, html)),
                Err(e) => {
                    warn!(error = %e, "could not render the moderation queue");
                    let text = "The list of comments could not be shown just now.";
                    Err(Reply::message(503, "unavailable", "Please try again", text))
                }
            }
        }
        lambda_http::http::Method::POST => {
            let json_wanted = web::wants_json(&req);
            let first = |name: &str| {
                web::form_values(&req, name).map(|v| v.into_iter().next().unwrap_or_default())
            };
            let (token, action) = (first("token")?, first("action")?);
            let ids = web::form_values(&req, "id")?;
            moderation::read_queue_link(&deps.moderation, &token, now).map_err(bad_link)?;
            let queue_url = match deps.pages.config().await {
                Ok(c) => format!("{}/moderate/queue", c.api_url),
                Err(_) => "queue".into(),
            };
            // A refusal, with a button back to the list (and the token).
            let refuse = |code, heading, text: &str| {
                let r = Reply::message(400, code, heading, text);
                Err(r.button("get", queue_url.clone(), "Back to the list", Some(&token)))
            };
            let Some(action) = Action::from_code(&action) else {
                let text = "Choose Approve, Mark as spam or Delete.";
                return refuse("unknown-action", "Unknown action", text);
            };
            let mut selected: Vec<(String, String)> = Vec::new();
            for value in &ids {
                let Some((post, id)) = value
                    .split_once('/')
                    .filter(|(p, i)| !p.is_empty() && !i.is_empty())
                else {
                    let text = format!("“{value}” does not name a comment on the list.");
                    return refuse("not-a-comment", "Not a comment", &text);
                };
                let pair = (post.to_string(), id.to_string());
                if !selected.contains(&pair) {
                    selected.push(pair);
                }
            }
            if selected.is_empty() {
                let text = "Tick the box beside each comment to act on, then choose what to do \
                            with them.";
                return refuse("none-selected", "No comments selected", text);
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
                if outcome.map_err(unavailable)? == Outcome::Done {
                    info!(comment = %id, action = ?action, "moderated from the list");
                    done += 1;
                } else {
                    skipped += 1;
                }
            }
            if json_wanted {
                let value = json!({ "action": action.code(), "done": done, "skipped": skipped });
                return Ok(Reply::Json(200, value));
            }
            let mut location = format!(
                "{queue_url}?token={}&done={done}-{}",
                web::url_encode(&token).collect::<String>(),
                action.code()
            );
            if skipped > 0 {
                location.push_str(&format!("&skipped={skipped}"));
            }
            Ok(Reply::SeeOther(location))
        }
        _ => Err(not_allowed()),
    }
}

fn not_allowed() -> Reply {
    Reply::Text(405, "use GET or POST".into())
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

/// A per-comment link: its confirmation page, or its action.
async fn single(deps: &Deps, req: Request) -> Result<Reply, Reply> {
    let now = deps.clock.now();
    match *req.method() {
        lambda_http::http::Method::GET => {
            if let Some(done) = web::query_param(&req, "done") {
                return Ok(done_page(&done));
            }
            let token = web::query_param(&req, "token").unwrap_or_default();
            let link = moderation::read_link(&deps.moderation, &token, now).map_err(bad_link)?;
            let comment = comments::get(deps.records.as_ref(), &link.post, &link.id)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    let text = "This comment has already been deleted.";
                    Reply::message(404, "not-found", "Comment not found", text)
                })?;
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
            let verb = link.action.verb();
            let heading = format!("{verb} this comment?");
            let page = Reply::message(200, "confirm", &heading, body);
            Ok(page.button("post", url, verb, Some(&token)))
        }
        lambda_http::http::Method::POST => {
            let json_wanted = web::wants_json(&req);
            let token = web::parse_form(&req)?.get("token").to_string();
            let link = moderation::read_link(&deps.moderation, &token, now).map_err(bad_link)?;
            let used = moderation::use_link(deps.records.as_ref(), &link, deps.clock.now()).await;
            let outcome = match used.map_err(unavailable)? {
                Ok(outcome) => outcome,
                Err(used) => {
                    let text = used.to_string();
                    let heading = "Link already used";
                    return Err(Reply::message(used.status(), "used-link", heading, text));
                }
            };
            info!(comment = %link.id, action = ?link.action, outcome = ?outcome, "moderated");
            if json_wanted {
                let outcome = format!("{outcome:?}");
                return Ok(Reply::Json(
                    200,
                    json!({ "id": link.id, "outcome": outcome }),
                ));
            }
            // Sent on to a page the moderator can reload without acting again.
            let done = match outcome {
                Outcome::Done => link.action.code().to_string(),
                Outcome::NoChange => "nochange".into(),
                Outcome::Gone => "gone".into(),
            };
            Ok(match deps.pages.config().await {
                Ok(c) => Reply::SeeOther(format!("{}/moderate?done={done}", c.api_url)),
                Err(_) => done_page(&done),
            })
        }
        _ => Err(not_allowed()),
    }
}
