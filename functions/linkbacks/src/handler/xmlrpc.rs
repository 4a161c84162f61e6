//! `POST /xmlrpc`: the one XML-RPC method Pingback 1.0 defines, `pingback.ping(sourceURI,
//! targetURI)`. Every answer is a well-formed XML-RPC response: a string on success, a
//! fault with the spec's code otherwise (HTTP 200, as XML-RPC wants, except 413 for a body
//! over the limit and 503 when the mention could not be stored).

use lambda_http::{Body, Request, Response};
use shared::linkbacks::mention::Protocol;
use shared::linkbacks::xmlrpc::{self, CallError};

use super::{log_unavailable, take, Deps, NotTaken};

pub async fn handle(deps: &Deps, req: &Request) -> Response<Body> {
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let call = match xmlrpc::parse_pingback(body) {
        Ok(c) => c,
        Err(e) => {
            let status = if e == CallError::TooLarge { 413 } else { 200 };
            return answer(status, xmlrpc::fault(e.fault_code(), &e.to_string()));
        }
    };
    match take(deps, req, &call.source, &call.target, Protocol::Pingback).await {
        Ok(_) => answer(
            200,
            xmlrpc::success(
                "Pingback received: we will check that your page links to ours, and show it \
                 under the post once a moderator has approved it.",
            ),
        ),
        Err(NotTaken::Refused(r)) => answer(200, xmlrpc::fault(r.fault_code(), &r.to_string())),
        Err(NotTaken::Unavailable(e)) => {
            log_unavailable(&e);
            answer(
                503,
                xmlrpc::fault(
                    0,
                    "the pingback could not be stored just now; send it again later",
                ),
            )
        }
    }
}

fn answer(status: u16, xml: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-store")
        .body(Body::Text(xml))
        .expect("valid response")
}
