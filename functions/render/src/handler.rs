//! Turns what invoked the function into builder calls:
//! - an S3 notification (content bucket put/delete): an incremental build of those keys;
//! - a scheduled event (EventBridge, daily): a full build, which also refreshes form tokens.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::s3::S3Event;
use serde_json::Value;
use shared::adapters::aws::changes_from_stream;
use shared::comments::posts_with_changed_comments;
use shared::site::build::{BuildError, BuildReport, Builder, ContentEvent};
use time::OffsetDateTime;
use tracing::info;

/// An event's time, to the second (what a page's form token says it was rendered at).
fn event_time(t: &chrono::DateTime<chrono::Utc>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unrecognised event: {0}")]
    UnknownEvent(String),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RenderRequest {
    Changes(Vec<ContentEvent>),
    FullBuild,
    /// Posts whose published comments changed (from the DynamoDB stream), and when.
    Comments {
        posts: Vec<String>,
        at: Option<OffsetDateTime>,
    },
}

/// S3 sends keys URL-encoded, with `+` for a space.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Classify the raw event payload.
pub fn parse_event(payload: Value) -> Result<RenderRequest, RenderError> {
    let from_dynamodb = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:dynamodb");
    if from_dynamodb {
        let event: StreamEvent = serde_json::from_value(payload)
            .map_err(|e| RenderError::UnknownEvent(format!("DynamoDB stream event: {e}")))?;
        let changes =
            changes_from_stream(&event).map_err(|e| RenderError::UnknownEvent(e.to_string()))?;
        return Ok(RenderRequest::Comments {
            posts: posts_with_changed_comments(&changes).into_iter().collect(),
            at: event
                .records
                .iter()
                .filter_map(|r| event_time(&r.change.approximate_creation_date_time))
                .max(),
        });
    }
    if payload.get("Records").is_some() {
        let event: S3Event = serde_json::from_value(payload)
            .map_err(|e| RenderError::UnknownEvent(format!("S3 event: {e}")))?;
        let changes = event
            .records
            .iter()
            .filter_map(|r| {
                let key = decode_key(r.s3.object.key.as_deref()?);
                let removed = r
                    .event_name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("ObjectRemoved"));
                Some(ContentEvent {
                    key,
                    removed,
                    at: event_time(&r.event_time),
                })
            })
            .collect();
        return Ok(RenderRequest::Changes(changes));
    }
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        || payload.get("full_build").and_then(Value::as_bool) == Some(true)
    {
        return Ok(RenderRequest::FullBuild);
    }
    // S3 sends this once when notifications are configured.
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(RenderRequest::Changes(Vec::new()));
    }
    Err(RenderError::UnknownEvent(
        payload.to_string().chars().take(200).collect(),
    ))
}

/// Re-render the pages of posts whose published comments changed.
pub async fn comments_changed(
    builder: &Builder,
    slugs: &[String],
    at: Option<OffsetDateTime>,
) -> Result<BuildReport, BuildError> {
    let mut report = BuildReport::default();
    for slug in slugs {
        let r = builder.comments_changed(slug, at).await?;
        info!(post = %slug, written = r.written.len(), "comments re-rendered");
        report.merge(r);
    }
    Ok(report)
}

pub async fn handle(builder: &Builder, payload: Value) -> Result<BuildReport, RenderError> {
    let report = match parse_event(payload)? {
        RenderRequest::Changes(changes) => {
            info!(keys = ?changes.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), "content changed");
            builder.apply(&changes).await?
        }
        RenderRequest::FullBuild => builder.full_build().await?,
        RenderRequest::Comments { posts, at } => comments_changed(builder, &posts, at).await?,
    };
    for e in &report.errors {
        tracing::error!(error = %e, "content not published");
    }
    Ok(report)
}

/// One invocation as the Lambda runtime delivers it: the report, as JSON, is the answer.
pub async fn on_invocation(builder: &Builder, payload: Value) -> Result<Value, RenderError> {
    let report = handle(builder, payload).await?;
    Ok(serde_json::json!({
        "written": report.written.len(),
        "deleted": report.deleted.len(),
        "unchanged": report.unchanged,
        "errors": report.errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_s3_keys() {
        assert_eq!(
            decode_key("photos/south+bank+campus.jpg"),
            "photos/south bank campus.jpg"
        );
        assert_eq!(decode_key("photos/caf%C3%A9%2B1.jpg"), "photos/café+1.jpg");
    }

    #[test]
    fn recognises_every_sample_event() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !(name.starts_with("s3-") || name.starts_with("schedule"))
                || !name.ends_with(".json")
            {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let req = parse_event(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            if let RenderRequest::Comments { posts, at } = &req {
                if name.contains("approved") {
                    assert!(!posts.is_empty(), "{name}: an approval re-renders its post");
                    assert!(at.is_some(), "{name}: the change's time is kept");
                }
            }
            if let RenderRequest::Changes(c) = &req {
                assert!(c.iter().all(|e| e.at.is_some()), "{name}: event times kept");
                assert!(!c.is_empty(), "{name} has no records");
                assert!(
                    c.iter()
                        .all(|e| !e.key.contains('+') && !e.key.contains('%')),
                    "{name}: keys decoded"
                );
            }
            seen += 1;
        }
        assert!(seen >= 3, "sample events found: {seen}");
    }
}
