//! The form endpoints on the local server, at the same paths as on API Gateway, calling the
//! very handlers the Lambdas run. A hyper request becomes the `lambda_http::Request` API
//! Gateway would deliver: the client IP goes into the request context (from the socket,
//! never from a header), route parameters into the path parameters.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};

use crate::local::LocalSite;

/// API Gateway's view of a request.
pub fn to_lambda_request(
    parts: http::request::Parts,
    body: Bytes,
    peer: SocketAddr,
) -> lambda_http::Request {
    let mut http_desc = ApiGatewayV2httpRequestContextHttpDescription::default();
    http_desc.method = parts.method.clone();
    http_desc.path = Some(parts.uri.path().to_string());
    http_desc.protocol = Some("HTTP/1.1".into());
    http_desc.source_ip = Some(peer.ip().to_string());
    http_desc.user_agent = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http = http_desc;
    ctx.stage = Some("$default".into());
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(body.to_vec())
    };
    http::Request::from_parts(parts, body)
        .with_request_context(RequestContext::ApiGatewayV2(ctx))
        .with_query_string_parameters(query)
}

/// The route a request matches, with its path parameters.
enum Route {
    Comments(String),
    Moderate,
    Signup,
    Linkbacks,
}

fn route(method: &http::Method, path: &str) -> Option<Route> {
    if method == http::Method::POST {
        if let Some(slug) = path
            .strip_prefix("/posts/")
            .and_then(|r| r.strip_suffix("/comments"))
        {
            return Some(Route::Comments(slug.to_string()));
        }
    }
    if path == "/moderate" || path == "/moderate/queue" {
        return Some(Route::Moderate);
    }
    if linkbacks::handler::PATHS.contains(&path) {
        return Some(Route::Linkbacks);
    }
    if signup::handler::Route::serves(method, path) {
        return Some(Route::Signup);
    }
    None
}

/// Answer an API request, or `None` when the path is the static site's.
pub async fn dispatch(
    site: &LocalSite,
    parts: http::request::Parts,
    body: Bytes,
    peer: SocketAddr,
) -> Option<http::Response<Body>> {
    let r = route(&parts.method, parts.uri.path())?;
    let req = to_lambda_request(parts, body, peer);
    Some(match r {
        Route::Comments(slug) => {
            let req = req.with_path_parameters(HashMap::from([("slug".to_string(), slug)]));
            comment_submit::handler::handle(&site.comments, req).await
        }
        Route::Moderate => moderate::handler::handle(&site.moderate, req).await,
        Route::Signup => signup::handler::handle(&site.signup, req).await,
        Route::Linkbacks => linkbacks::handler::handle(&site.linkbacks, req).await,
    })
}
