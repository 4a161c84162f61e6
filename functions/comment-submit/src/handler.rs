//! `POST /posts/{slug}/comments`, from the page's form (urlencoded) or from script (JSON).
//!
//! Checks run cheapest first: the fields, the honeypot, the signed form token, that the post
//! exists, the rate limit for the client IP (from the request context, never a header), and
//! hCaptcha. An accepted comment is stored once as pending (a conditional put), and the
//! spam-verification function takes it from the stream. A form post gets 303 back to the
//! post; JSON gets 202 and the id. A refused form post gets the post page again, each error
//! beside its field and the visitor's text kept.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::comments::{self, FieldErrors};
use shared::env::EnvError;
use shared::http::guard::{Guard, Refusal};
use shared::http::web::{self, FormData};
use shared::ports::{Clock, ItemStore};
use shared::site::build::Pages;
use shared::site::render::FormState;
use shared::site::reply::Reply;
use shared::wiring::Parts;
use tracing::{info, warn};

pub struct Deps {
    pub guard: Guard,
    pub pages: Pages,
    pub records: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn build(parts: &dyn Parts) -> Result<Self, EnvError> {
        Ok(Self {
            guard: parts.guard()?,
            pages: parts.pages()?,
            records: parts.records()?,
            clock: parts.clock(),
        })
    }
}

/// The fields a visitor typed, kept when the form is shown again.
const KEPT_FIELDS: [&str; 5] = ["name", "email", "website", "body", "parent"];

fn form_name(slug: &str) -> String {
    format!("comment:{slug}")
}

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let json_wanted = web::wants_json(&req);
    let reply = submit(deps, &req, json_wanted).await.unwrap_or_else(|r| r);
    // No message pages here: a refusal is shown on the post's own page.
    reply.respond(&deps.pages, "", json_wanted).await
}

/// Said when the post or the site configuration cannot be read.
const UNAVAILABLE: &str =
    "we could not store your comment just now; please try again in a few minutes";

async fn submit(deps: &Deps, req: &Request, json_wanted: bool) -> Result<Reply, Reply> {
    // API Gateway names the slug as a path parameter; `cargo lambda watch` and other
    // emulators send only the path, so it is read from there too.
    let slug = web::path_param(req, "slug").or_else(|| {
        web::route_path(req)
            .strip_prefix("/posts/")
            .and_then(|r| r.strip_suffix("/comments"))
            .map(str::to_string)
    });
    let Some(slug) = slug.filter(|s| shared::site::layout::is_valid_slug(s)) else {
        return Err(Reply::Text(404, "no such post".into()));
    };
    let form = web::parse_form(req)?;
    let ip = web::client_ip(req);
    // The rate limit first, before anything is rendered or read: a flood of posts, valid or
    // not, costs one counter each. (The form re-shown with the visitor's text uses the
    // post and its comments as the form functions keep them for a minute.)
    if let Err(r) = deps.guard.rate("comment", ip.as_deref()).await {
        return Err(refused(deps, json_wanted, &slug, &form, r).await);
    }

    let input = match comments::validate(&form) {
        Ok(i) => i,
        Err(errors) => return Err(reshow(deps, json_wanted, &slug, &form, 422, errors, None).await),
    };
    if let Err(r) = deps
        .guard
        .honeypot(&form)
        .and_then(|_| deps.guard.token(&form_name(&slug), &form))
    {
        return Err(refused(deps, json_wanted, &slug, &form, r).await);
    }
    let post = match deps.pages.post(&slug).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let text = "there is no post at this address to comment on";
            return Err(Reply::form_error(404, text));
        }
        Err(e) => {
            warn!(error = %e, "post lookup failed");
            return Err(Reply::form_error(503, UNAVAILABLE));
        }
    };
    let config = deps.pages.config().await.map_err(|e| {
        warn!(error = %e, "site configuration unavailable");
        Reply::form_error(503, UNAVAILABLE)
    })?;
    if let Err(r) = deps
        .guard
        .captcha(&form, ip.as_deref(), config.captcha_site())
        .await
    {
        return Err(refused(deps, json_wanted, &slug, &form, r).await);
    }
    if let Some(parent) = &input.parent {
        match comments::get(deps.records.as_ref(), &slug, parent).await {
            Ok(Some(p)) if p.status == shared::comments::CommentStatus::Approved => {}
            Ok(_) => {
                let errors = FieldErrors::from([(
                    "parent".to_string(),
                    "The comment you are replying to does not exist.".to_string(),
                )]);
                return Err(reshow(deps, json_wanted, &slug, &form, 422, errors, None).await);
            }
            Err(e) => return Err(refused(deps, json_wanted, &slug, &form, Refusal::Store(e)).await),
        }
    }

    let comment = comments::new_pending(
        &deps.guard.identity,
        &slug,
        &input,
        deps.clock.now(),
        deps.guard.ip_hash(ip.as_deref()),
    );
    match comments::store_pending(deps.records.as_ref(), &comment).await {
        Ok(first) => {
            info!(comment = %comment.id, post = %slug, duplicate = !first, "comment stored as pending")
        }
        Err(e) => return Err(refused(deps, json_wanted, &slug, &form, Refusal::Store(e)).await),
    }
    if json_wanted {
        return Ok(Reply::Json(
            202,
            json!({ "id": comment.id, "status": "pending" }),
        ));
    }
    let base = match deps.pages.config().await {
        Ok(c) => c.base_url,
        Err(_) => "/".into(),
    };
    // Back to the post, at the notice that the theme shows for `#awaiting-moderation`
    // (a CSS `:target`, so it works without JavaScript).
    let slug = &post.slug;
    Ok(Reply::SeeOther(format!(
        "{base}posts/{slug}/#awaiting-moderation"
    )))
}

async fn refused(deps: &Deps, json_wanted: bool, slug: &str, form: &FormData, r: Refusal) -> Reply {
    if let Refusal::Store(e) = &r {
        warn!(error = %e, "records store unavailable");
    }
    let errors = FieldErrors::from([(r.field().to_string(), r.to_string())]);
    // Form-wide reasons (token, rate limit, storage) have no field to sit beside.
    let notice = Some(format!("Your comment has not been sent yet: {r}."));
    reshow(deps, json_wanted, slug, form, r.status(), errors, notice).await
}

/// The post page again with the errors beside their fields and the visitor's text kept
/// (with the token the visitor sent, or a fresh one if it was no good); to a script, or when
/// the page cannot be shown, the errors alone.
async fn reshow(
    deps: &Deps,
    json_wanted: bool,
    slug: &str,
    form: &FormData,
    status: u16,
    errors: FieldErrors,
    notice: Option<String>,
) -> Reply {
    if json_wanted {
        return Reply::Errors(status, errors);
    }
    let Ok(Some(post)) = deps.pages.post(slug).await else {
        return Reply::Errors(status, errors);
    };
    // A reply to a comment that is not there is sent again as a new comment.
    let parent_refused = errors.contains_key("parent");
    let state = FormState {
        errors: errors.clone().into_iter().collect(),
        values: KEPT_FIELDS
            .iter()
            .filter(|k| !(parent_refused && **k == "parent"))
            .map(|k| (k.to_string(), form.get(k).to_string()))
            .collect(),
        notice: notice
            .or_else(|| Some("Your comment has not been sent yet: please see below.".into())),
    };
    let token = deps.guard.forms.token_for_reshown_form(
        &form_name(slug),
        form.get("form_token"),
        deps.clock.now(),
    );
    match deps.pages.post_with_form(&post, &token, &state).await {
        Ok(html) => Reply::Html(status, html),
        Err(e) => {
            warn!(error = %e, "could not render the form page");
            Reply::Errors(status, errors)
        }
    }
}
