//! `POST /webmention`: form-encoded `source` and `target` (W3C Webmention §3.2). A request
//! that cannot be accepted gets 400 (429 over the rate limit, 403 blocklisted) with the
//! reason as plain text; an accepted one 202, verified later.

use lambda_http::{Body, Request, Response};
use shared::http::web;
use shared::linkbacks::mention::Protocol;

use super::{log_unavailable, take, Deps, NotTaken};

pub async fn handle(deps: &Deps, req: &Request) -> Response<Body> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return web::text(
            415,
            "send source and target as application/x-www-form-urlencoded (W3C Webmention)",
        );
    }
    let form = match web::parse_form(req) {
        Ok(f) => f,
        Err(e) => return web::text(e.status(), &e.to_string()),
    };
    let (source, target) = (form.get("source"), form.get("target"));
    match take(deps, req, source, target, Protocol::Webmention).await {
        Ok(_) => web::text(
            202,
            "Accepted: we will check that the source links to the target, and show the mention \
             under the post once a moderator has approved it.",
        ),
        Err(NotTaken::Refused(r)) => web::text(r.status(), &format!("Not accepted: {r}.")),
        Err(NotTaken::Unavailable(e)) => {
            log_unavailable(&e);
            web::text(
                503,
                "We could not take your Webmention just now; please send it again later.",
            )
        }
    }
}
