//! Turns what invoked the function into builder calls:
//! - an S3 notification (content bucket put/delete): an incremental build of those keys;
//! - a scheduled event (EventBridge, daily): a full build, which also refreshes form tokens;
//! - a DynamoDB stream batch (comments approved or unpublished): those posts' pages.
//!
//! A record that is not ours (another bucket, an S3 event name we do not act on, a stream
//! record that is not a comment) is skipped and said so at warn level. An event of no shape
//! we know is an error, reported to Lambda as a [`Diagnostic`] named after the variant.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::Diagnostic;
use serde_json::Value;
use shared::adapters::aws::{changes_from_stream, event_shape};
use shared::comments::posts_with_changed_comments;
use shared::ports::StoreError;
use shared::site::build::{BuildError, BuildReport, Builder, ContentEvent};
use time::OffsetDateTime;
use tracing::{info, warn};

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

impl RenderError {
    /// A stable name for the kind of failure: the `errorType` Lambda reports (CloudWatch,
    /// the dead-letter queue), so alarms and searches can tell failures apart.
    pub fn error_type(&self) -> &'static str {
        match self {
            RenderError::UnknownEvent(_) => "RenderError::UnknownEvent",
            RenderError::Build(e) => match e {
                BuildError::Store(StoreError::Unavailable(_)) => "RenderError::StoreUnavailable",
                BuildError::Store(_) => "RenderError::Store",
                BuildError::Config(_) => "RenderError::Config",
                BuildError::Template(_) => "RenderError::Template",
                BuildError::Content(_) => "RenderError::Content",
                BuildError::Missing(_) => "RenderError::Missing",
            },
        }
    }
}

/// What the runtime posts to Lambda for a failed invocation: the variant's name and the
/// message (instead of the type name of a boxed error).
impl From<RenderError> for Diagnostic {
    fn from(e: RenderError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
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

/// Classify the raw event payload. S3 records for a bucket other than `content_bucket` (when
/// given) are not ours, and are skipped.
pub fn parse_event(
    payload: Value,
    content_bucket: Option<&str>,
) -> Result<RenderRequest, RenderError> {
    let source = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str);
    if source == Some("aws:dynamodb") {
        let event: StreamEvent = serde_json::from_value(payload)
            .map_err(|e| RenderError::UnknownEvent(format!("DynamoDB stream event: {e}")))?;
        let changes = changes_from_stream(&event).map_err(BuildError::from)?;
        return Ok(RenderRequest::Comments {
            posts: posts_with_changed_comments(&changes).into_iter().collect(),
            at: event
                .records
                .iter()
                .filter_map(|r| event_time(&r.change.approximate_creation_date_time))
                .max(),
        });
    }
    if source == Some("aws:s3") {
        let event: S3Event = serde_json::from_value(payload)
            .map_err(|e| RenderError::UnknownEvent(format!("S3 event: {e}")))?;
        let changes = event
            .records
            .iter()
            .filter_map(|r| s3_change(r, content_bucket))
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
    let shape = event_shape(&payload);
    warn!(event = %shape, "event not ours: not an S3 notification, a stream batch or a schedule");
    Err(RenderError::UnknownEvent(shape))
}

/// The content change an S3 record stands for, or `None` (said at warn level) when the
/// record is not ours.
fn s3_change(
    r: &aws_lambda_events::event::s3::S3EventRecord,
    content_bucket: Option<&str>,
) -> Option<ContentEvent> {
    let source = r.event_source.as_deref().unwrap_or("(none)");
    let event_name = r.event_name.as_deref().unwrap_or("(none)");
    let bucket = r.s3.bucket.name.as_deref().unwrap_or("(none)");
    let skip = |why: &str| {
        warn!(
            source,
            event_name,
            bucket,
            key = r.s3.object.key.as_deref().unwrap_or("(none)"),
            "S3 record skipped: {why}"
        );
        None
    };
    if source != "aws:s3" {
        return skip("not an S3 record");
    }
    let removed = event_name.starts_with("ObjectRemoved");
    if !removed && !event_name.starts_with("ObjectCreated") {
        return skip("an event name the site does not act on");
    }
    if content_bucket.is_some_and(|b| b != bucket) {
        return skip("not the content bucket");
    }
    let Some(key) = r.s3.object.key.as_deref() else {
        return skip("no object key");
    };
    Some(ContentEvent {
        key: decode_key(key),
        removed,
        at: event_time(&r.event_time),
    })
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

/// Handle an invocation whatever bucket its S3 records name (see [`handle_for`]).
pub async fn handle(builder: &Builder, payload: Value) -> Result<BuildReport, RenderError> {
    handle_for(builder, None, payload).await
}

/// Handle an invocation; S3 records for a bucket other than `content_bucket` are skipped.
pub async fn handle_for(
    builder: &Builder,
    content_bucket: Option<&str>,
    payload: Value,
) -> Result<BuildReport, RenderError> {
    let report = match parse_event(payload, content_bucket)? {
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
/// Only S3 records for `content_bucket` are acted on.
pub async fn on_invocation(
    builder: &Builder,
    content_bucket: &str,
    payload: Value,
) -> Result<Value, RenderError> {
    let report = handle_for(builder, Some(content_bucket), payload).await?;
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

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn skips_s3_records_that_are_not_ours() {
        let bucket = "campaign-content-123456789012-eu-west-2";
        let keys = |event: Value| match parse_event(event, Some(bucket)).unwrap() {
            RenderRequest::Changes(c) => c.into_iter().map(|c| c.key).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let put = sample("s3-post-put.json");
        assert!(
            !keys(put.clone()).is_empty(),
            "the content bucket's record is kept"
        );
        let mut other_bucket = put.clone();
        other_bucket["Records"][0]["s3"]["bucket"]["name"] = "sourcebucket".into();
        assert!(
            keys(other_bucket).is_empty(),
            "another bucket's record is skipped"
        );
        let mut restore = put.clone();
        restore["Records"][0]["eventName"] = "ObjectRestore:Completed".into();
        assert!(
            keys(restore).is_empty(),
            "an event name not acted on is skipped"
        );
        let mut from_sqs = put["Records"][0].clone();
        from_sqs["eventSource"] = "aws:sqs".into();
        let mut not_s3 = put.clone();
        not_s3["Records"].as_array_mut().unwrap().push(from_sqs);
        assert_eq!(keys(not_s3).len(), 1, "a record from elsewhere is skipped");
    }

    #[test]
    fn errors_name_their_variant_and_never_quote_the_event() {
        let event = serde_json::json!({
            "rawPath": "/",
            "requestContext": {"http": {"sourceIp": "203.0.113.9"}},
            "body": "someone@example.net",
        });
        let e = parse_event(event, None).unwrap_err();
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "RenderError::UnknownEvent");
        assert!(d.error_message.contains("rawPath"), "{}", d.error_message);
        assert!(
            !d.error_message.contains("203.0.113.9") && !d.error_message.contains('@'),
            "{}",
            d.error_message
        );
        let d = Diagnostic::from(RenderError::Build(BuildError::Missing("site.toml")));
        assert_eq!(d.error_type, "RenderError::Missing");
        assert_eq!(
            d.error_message,
            "site.toml is missing from the content store"
        );
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
            let req = parse_event(v, None).unwrap_or_else(|e| panic!("{name}: {e}"));
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
