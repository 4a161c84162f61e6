//! AWS adapters: S3 for blobs, DynamoDB for records. Clients are built once per process
//! (in a function's `main`) and passed in; nothing here reads the environment per request.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_s3::primitives::ByteStream;

use crate::ports::{BlobStore, Condition, Item, ItemChange, ItemStore, StoreError};
use crate::site::layout::ObjectMeta;

/// Shared SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for moto in tests).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The SDK configuration inside a Lambda function: region and credentials from the
/// variables the Lambda runtime sets, and `AWS_ENDPOINT_URL` when given (tests against moto).
/// Built by hand rather than by aws-config's default chains (profile files, SSO, IMDS, STS
/// web identity, none of which a Lambda uses), which keeps that code out of the binaries:
/// smaller zips and less to load at a cold start. HTTP client, sleep and time source are the
/// service clients' defaults.
pub fn lambda_sdk_config() -> aws_config::SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut builder = aws_config::SdkConfig::builder()
        .http_client(deferred_tls_https_client())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .behavior_version(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// How a function retries a failed AWS call: the SDK's standard mode (throttles, 5xx,
/// resets and timeouts are retried with jittered backoff), three attempts in all. A call
/// still failing after that becomes a 503 for a visitor or a failed batch the event source
/// retries, never a half-done success.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(3)
}

/// How long a function waits for AWS: without limits a stalled connection would hold a
/// visitor until API Gateway's 29 s gives up with a 502. An attempt that takes longer than
/// this is abandoned and retried; the whole call, retries included, stays under the
/// functions' own timeouts (10 s for the form functions).
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(7))
        .build()
}

/// The SDK's default HTTPS client (rustls, the system's trust store), one for every client
/// made from the config, that loads the trust store on its first connection rather than
/// when each client is built. The SDK loads it at client construction "so the first request
/// is not slowed"; in a Lambda that puts milliseconds of file reads and certificate parsing
/// (146 files on a Debian host) between process start and the first poll of the Runtime
/// API, for every client, and requests refused before they reach AWS (bad fields, honeypot,
/// a bad token) never need it. Sharing one client also shares its connectors: the store is
/// parsed once for S3, DynamoDB and SES together.
pub fn deferred_tls_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    aws_smithy_runtime_api::client::http::SharedHttpClient::new(DeferredTls(inner))
}

/// Everything the inner client does, except loading the trust store at validation time.
#[derive(Debug)]
struct DeferredTls(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for DeferredTls {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// An SDK client built on first use, once, and shared by clones. Building one parses the
/// SDK's endpoint rules and partitions (about a millisecond each for S3, DynamoDB and SES),
/// work a function's start-up does not need and a request refused before it reaches AWS
/// never needs.
pub struct LazyClient<C>(std::sync::Arc<std::sync::LazyLock<C, Box<dyn FnOnce() -> C + Send>>>);

impl<C> LazyClient<C> {
    pub fn new(make: impl FnOnce() -> C + Send + 'static) -> Self {
        Self(std::sync::Arc::new(std::sync::LazyLock::new(Box::new(
            make,
        ))))
    }

    /// `make(sdk)` on first use, e.g. `LazyClient::of(&sdk, s3_client)`.
    pub fn of(sdk: &aws_config::SdkConfig, make: fn(&aws_config::SdkConfig) -> C) -> Self
    where
        C: 'static,
    {
        let sdk = sdk.clone();
        Self::new(move || make(&sdk))
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: Send + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self::new(move || client)
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyClient")
    }
}

pub fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    // Path-style addressing works against every endpoint (moto, localhost) and AWS alike.
    let conf = aws_sdk_s3::config::Builder::from(cfg)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn dynamodb_client(cfg: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(cfg)
}

pub fn ses_client(cfg: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(cfg)
}

fn sdk_err(e: impl std::error::Error) -> StoreError {
    // The display of an SdkError is terse; the source chain says what went wrong.
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    StoreError::Unavailable(msg)
}

/// A bucket, or a prefix inside one (the builder's state lives under `_state/` in the
/// content bucket).
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
    prefix: String,
}

impl S3BlobStore {
    pub fn new(
        client: impl Into<LazyClient<aws_sdk_s3::Client>>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn etag_md5(etag: Option<&str>) -> Option<String> {
    // A multipart ETag ("…-3") is not an MD5; reporting none makes the builder rewrite.
    etag.map(|e| e.trim_matches('"').to_ascii_lowercase())
        .filter(|e| !e.contains('-'))
}

impl S3BlobStore {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        meta: &ObjectMeta,
        redirect_to: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .content_type(meta.content_type)
            .cache_control(meta.cache_control)
            .set_website_redirect_location(redirect_to.map(str::to_string))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(sdk_err)?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, meta: &ObjectMeta) -> Result<(), StoreError> {
        self.put_object(key, body, meta, None).await
    }

    async fn put_redirect(
        &self,
        key: &str,
        page: Vec<u8>,
        meta: &ObjectMeta,
        location: &str,
    ) -> Result<(), StoreError> {
        self.put_object(key, page, meta, Some(location)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .md5_listing(prefix)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    async fn md5(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(out) => Ok(Some(etag_md5(out.e_tag()).unwrap_or_default())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_err(e)),
        }
    }

    fn md5_listing_is_cheap(&self) -> bool {
        true
    }

    async fn md5_all(&self, prefix: &str) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .md5_listing(prefix)
            .await?
            .into_iter()
            .map(|(k, m)| (k, m.unwrap_or_default()))
            .collect())
    }
}

impl S3BlobStore {
    /// One paginated listing gives every key and its ETag.
    async fn md5_listing(&self, prefix: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err)?;
            for obj in page.contents() {
                if let Some(k) = obj.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    out.push((k.to_string(), etag_md5(obj.e_tag())));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The single DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoItemStore {
    client: LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl DynamoItemStore {
    pub fn new(
        client: impl Into<LazyClient<aws_sdk_dynamodb::Client>>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            table: table.into(),
        }
    }
}

type AvMap = HashMap<String, AttributeValue>;

fn to_av(item: &Item) -> Result<AvMap, StoreError> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_av(av: AvMap) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::from_item(av).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.remove(WRITE_ID);
    Ok(item)
}

/// The attribute a conditional write carries its write id in (never seen by callers: reads
/// and stream images drop it).
///
/// A write whose reply is lost (a reset connection, a timeout after DynamoDB applied it)
/// is sent again by the SDK's retry. Without an id, the retry of a conditional put finds
/// its own first attempt and fails its condition, so the caller is told "someone else got
/// there first" (a moderation link reported as already used, a comment's verdict skipped);
/// the retry of an increment counts twice. With one, each write is made idempotent: the
/// condition also holds when the item carries this very write's id, and an increment
/// applies only when it does not.
const WRITE_ID: &str = "_write";

fn new_write_id() -> AttributeValue {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    AttributeValue::S(hex::encode(b))
}

fn key_av(pk: &str, sk: &str) -> AvMap {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

/// A condition as a DynamoDB condition expression with its names and values.
struct ConditionExpr {
    expr: &'static str,
    names: Vec<(String, String)>,
    values: AvMap,
}

fn condition_expr(c: &Condition) -> Result<Option<ConditionExpr>, StoreError> {
    Ok(match c {
        Condition::Always => None,
        Condition::NotExists => Some(ConditionExpr {
            expr: "attribute_not_exists(pk)",
            names: vec![],
            values: AvMap::new(),
        }),
        Condition::Equals { attr, value } | Condition::AbsentOrEquals { attr, value } => {
            let v = serde_dynamo::to_attribute_value(value)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Some(ConditionExpr {
                expr: if matches!(c, Condition::Equals { .. }) {
                    "#c = :c"
                } else {
                    "attribute_not_exists(pk) OR #c = :c"
                },
                names: vec![("#c".into(), attr.clone())],
                values: AvMap::from([(":c".to_string(), v)]),
            })
        }
    })
}

#[async_trait]
impl ItemStore for DynamoItemStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_av(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.map(from_av).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        let mut av = to_av(&item)?;
        let mut req = self.client.put_item().table_name(&self.table);
        if let Some(c) = condition_expr(&condition)? {
            let id = new_write_id();
            av.insert(WRITE_ID.into(), id.clone());
            req = req
                .condition_expression(format!("({}) OR #write = :write", c.expr))
                .expression_attribute_names("#write", WRITE_ID)
                .expression_attribute_values(":write", id);
            for (k, v) in c.names {
                req = req.expression_attribute_names(k, v);
            }
            for (k, v) in c.values {
                req = req.expression_attribute_values(k, v);
            }
        }
        match req.set_item(Some(av)).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: Condition,
    ) -> Result<Option<Item>, StoreError> {
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_av(pk, sk)))
            .return_values(ReturnValue::AllOld);
        if let Some(c) = condition_expr(&condition)? {
            req = req.condition_expression(c.expr);
            for (k, v) in c.names {
                req = req.expression_attribute_names(k, v);
            }
            if !c.values.is_empty() {
                req = req.set_expression_attribute_values(Some(c.values));
            }
        }
        match req.send().await {
            Ok(out) => out.attributes.map(from_av).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_on(None, "pk", "sk", pk, sk_prefix).await
    }

    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_on(
            Some(crate::ports::GSI1),
            "gsi1pk",
            "gsi1sk",
            gsi1pk,
            sk_prefix,
        )
        .await
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        // `count` is only added when the item does not already carry this write's id: a
        // retry of an increment DynamoDB applied (its reply lost) counts once.
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_av(pk, sk)))
            .update_expression("ADD #n :by SET expires_at = :e, #write = :write")
            .condition_expression("attribute_not_exists(#write) OR #write <> :write")
            .expression_attribute_names("#n", "count")
            .expression_attribute_names("#write", WRITE_ID)
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .expression_attribute_values(":e", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":write", new_write_id())
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        let count = match sent {
            Ok(out) => out.attributes().and_then(|a| a.get("count")).cloned(),
            Err(e) => match e.as_service_error() {
                // Applied by an earlier attempt of this very call: the count it made comes
                // back with the refusal (no read, so no read permission needed).
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
                    c.item().and_then(|a| a.get("count")).cloned()
                }
                _ => return Err(sdk_err(e)),
            },
        };
        count
            .as_ref()
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("increment returned no count".into()))
    }
}

impl DynamoItemStore {
    async fn query_on(
        &self,
        index: Option<&str>,
        pk_name: &str,
        sk_name: &str,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()));
        req = if sk_prefix.is_empty() {
            req.key_condition_expression("#pk = :pk")
        } else {
            req.key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":sk", AttributeValue::S(sk_prefix.into()))
        };
        if index.is_none() {
            req = req.consistent_read(true);
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                out.push(from_av(item)?);
            }
        }
        Ok(out)
    }
}

/// The records of a DynamoDB stream event as changes (old and new images). A record whose
/// images cannot be read as items is not one this code wrote: it is skipped (said at warn
/// level) unless it names itself a comment, which is a malformed record of ours.
pub fn changes_from_stream(
    event: &aws_lambda_events::event::dynamodb::Event,
) -> Result<Vec<ItemChange>, StoreError> {
    changes_of_type(event, "comment")
}

/// [`changes_from_stream`] for a consumer of records of another `type` (its stream filter
/// passes those): a record of another type is said at warn level, a malformed one of this
/// type is an error.
pub fn changes_of_type(
    event: &aws_lambda_events::event::dynamodb::Event,
    record_type: &str,
) -> Result<Vec<ItemChange>, StoreError> {
    let image = |i: &serde_dynamo::Item| -> Result<Option<Item>, StoreError> {
        if i.is_empty() {
            return Ok(None);
        }
        let mut item: Item = serde_dynamo::from_item(i.clone())
            .map_err(|e| StoreError::Corrupt(format!("stream image: {e}")))?;
        item.remove(WRITE_ID);
        Ok(Some(item))
    };
    let mut out = Vec::with_capacity(event.records.len());
    for r in &event.records {
        match (image(&r.change.old_image), image(&r.change.new_image)) {
            (Ok(old), Ok(new)) => {
                // The functions' stream filters pass comments only: anything else is not
                // ours (the consumers pass it over), and said so once, here.
                let kind = [&new, &old]
                    .iter()
                    .find_map(|i| i.as_ref()?.get("type")?.as_str());
                if kind != Some(record_type) {
                    tracing::warn!(
                        record_type = kind.unwrap_or("(none)"),
                        "stream record skipped: not a {record_type}"
                    );
                }
                out.push(ItemChange { old, new })
            }
            (Err(e), _) | (_, Err(e)) => {
                let ours_type = serde_dynamo::AttributeValue::S(record_type.into());
                let ours = [&r.change.old_image, &r.change.new_image]
                    .iter()
                    .any(|i| i.get("type") == Some(&ours_type));
                if ours {
                    return Err(e);
                }
                tracing::warn!(
                    event_id = %r.event_id,
                    event_name = %r.event_name,
                    error = %e,
                    "stream record skipped: not an item of ours"
                );
            }
        }
    }
    Ok(out)
}

/// The DynamoDB stream batch a stream consumer was invoked with, or why the payload is
/// not one (its shape or the decoding error, never its values), said at warn level.
pub fn stream_batch(
    payload: serde_json::Value,
) -> Result<aws_lambda_events::event::dynamodb::Event, String> {
    let shape = event_shape(&payload);
    if payload
        .pointer("/Records/0/eventSource")
        .and_then(serde_json::Value::as_str)
        != Some("aws:dynamodb")
    {
        tracing::warn!(event = %shape, "event not ours: not a DynamoDB stream batch");
        return Err(shape);
    }
    serde_json::from_value(payload).map_err(|e| {
        tracing::warn!(event = %shape, error = %e, "event not ours: not a DynamoDB stream batch");
        e.to_string()
    })
}

/// What an event looks like, for messages about one a function does not know: its
/// top-level field names and the source it names, never its values (a misrouted event may
/// carry addresses).
pub fn event_shape(payload: &serde_json::Value) -> String {
    use serde_json::Value;
    let short = |s: &str| s.chars().take(40).collect::<String>();
    match payload {
        Value::Object(o) => {
            let mut fields: Vec<String> = o.keys().take(10).map(|k| short(k)).collect();
            if o.len() > fields.len() {
                fields.push("…".into());
            }
            let source = [
                "/Records/0/eventSource",
                "/Records/0/EventSource",
                "/source",
            ]
            .iter()
            .find_map(|p| payload.pointer(p).and_then(Value::as_str))
            .map(|s| format!(" (source {})", short(s)))
            .unwrap_or_default();
            format!("an object with fields [{}]{source}", fields.join(", "))
        }
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_functions_calls_retry_and_time_out() {
        let sdk = lambda_sdk_config();
        let retry = sdk.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 3);
        let timeouts = sdk.timeout_config().unwrap();
        let two = Some(std::time::Duration::from_secs(2));
        assert_eq!(timeouts.connect_timeout(), two);
        assert_eq!(timeouts.operation_attempt_timeout(), two);
        assert_eq!(
            timeouts.operation_timeout(),
            Some(std::time::Duration::from_secs(7))
        );
    }
}
