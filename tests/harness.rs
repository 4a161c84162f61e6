//! Test harness: a real `moto_server` on a free loopback port (the AWS peer), sample
//! content, and helpers to drive the entry points.

pub mod fault_proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `site` command as built beside the test binary (`cargo build --workspace --bins`).
pub fn site_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("site");
    assert!(
        bin.exists(),
        "run `cargo build --workspace --bins` first (tests/run.sh does)"
    );
    bin
}

pub fn sample_content() -> PathBuf {
    root().join("sample/content")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running moto_server, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

impl Moto {
    /// Start moto and wait until it answers.
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server not found: run `bash scripts/test.sh` (it installs moto into .venv) or set MOTO_SERVER");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint }
    }

    /// SDK configuration pointing at this moto, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_loader(&self.endpoint).load().await
    }

    /// Every raw message SES (moto) has accepted so far, in no particular order. (Where moto
    /// keeps them differs between its versions, so the whole SES state is searched.)
    pub async fn sent_mails(&self) -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(raw)) = m.get("raw_data") {
                        out.push(raw.clone());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut raws = Vec::new();
        walk(&self.state().await["ses"], &mut raws);
        raws
    }

    /// Everything moto has recorded (sent mails and the like).
    pub async fn state(&self) -> serde_json::Value {
        let body = reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

/// Create the single table exactly as `infra/template.yaml` declares it.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::*;
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("gsi1pk"))
        .attribute_definitions(attr("gsi1sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key("gsi1pk", KeyType::Hash))
                .key_schema(key("gsi1sk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Create a bucket in moto's region (eu-west-2, as the sample events say).
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Upload a folder to a bucket, keys relative to the folder.
pub async fn upload_dir(client: &aws_sdk_s3::Client, bucket: &str, dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(std::fs::read(&p).unwrap().into())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// Copy a folder (sample content into a scratch folder a test may edit).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A sample event from `events/`.
pub fn event(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("events").join(name)).unwrap()).unwrap()
}

/// An API Gateway HTTP API (v2) request from a sample in `events/`, after `edit` (to put in
/// a fresh form token, another body, another source IP...). Bodies are re-encoded as
/// the sample has them (base64 for form posts, as API Gateway sends them).
pub fn apigw_request(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> lambda_http::Request {
    let mut v = event(name);
    edit(&mut v);
    lambda_http::request::from_str(&v.to_string()).expect("a valid API Gateway event")
}

/// Set an API Gateway event's body (base64-encoded when the sample's is).
pub fn set_body(event: &mut serde_json::Value, body: &str) {
    use base64::Engine;
    let b64 = event["isBase64Encoded"].as_bool().unwrap_or(false);
    event["body"] = if b64 {
        base64::engine::general_purpose::STANDARD
            .encode(body)
            .into()
    } else {
        body.into()
    };
    event["headers"]["content-length"] = body.len().to_string().into();
}

/// A urlencoded form body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A stand-in for hCaptcha's siteverify on a loopback port: answers every request with
/// `success` (and the error code hCaptcha gives for a bad answer), counting requests.
pub struct CaptchaStub {
    pub url: String,
    pub calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The bodies of the verification requests received (urlencoded forms).
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CaptchaStub {
    pub async fn start(success: bool) -> CaptchaStub {
        Self::start_with(success, None).await
    }

    /// A stub that accepts every answer and says it was solved on `hostname`.
    pub async fn solved_on(hostname: &str) -> CaptchaStub {
        Self::start_with(true, Some(hostname.to_string())).await
    }

    async fn start_with(success: bool, hostname: Option<String>) -> CaptchaStub {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (seen, hostname) = (seen.clone(), hostname.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    // Read the head, then the body it announces.
                    loop {
                        let n = sock.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&got).to_string();
                        if let Some(i) = text.find("\r\n\r\n") {
                            let len = text[..i]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if got.len() >= i + 4 + len {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        seen.lock().unwrap().push(text[i + 4..].to_string());
                    }
                    let body = if success {
                        match &hostname {
                            Some(h) => format!(r#"{{"success":true,"hostname":"{h}"}}"#),
                            None => r#"{"success":true}"#.to_string(),
                        }
                    } else {
                        r#"{"success":false,"error-codes":["invalid-input-response"]}"#.to_string()
                    };
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        CaptchaStub {
            url,
            calls,
            requests,
        }
    }
}

/// Body text of a lambda_http response.
pub fn body_text(resp: &lambda_http::Response<lambda_http::Body>) -> String {
    match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// A table's DynamoDB stream in moto, read as Lambda's event source mapping reads it: from
/// the table's creation on, each [`TableStream::next_records`] returns the records written
/// since the last call, shaped as they reach a stream-triggered function (`eventSourceARN`
/// included). The SDK has no DynamoDB Streams client among our dependencies; moto answers
/// the JSON protocol over plain HTTP.
pub struct TableStream {
    endpoint: String,
    arn: String,
    iterator: tokio::sync::Mutex<String>,
}

impl TableStream {
    /// The stream of `table` (created with [`create_table`]), from its first record.
    pub async fn open(moto: &Moto, table: &str) -> TableStream {
        let endpoint = moto.endpoint.clone();
        let described = stream_call(
            &endpoint,
            "DynamoDB_20120810.DescribeTable",
            serde_json::json!({ "TableName": table }),
        )
        .await;
        let arn = described["Table"]["LatestStreamArn"]
            .as_str()
            .expect("the table has a stream")
            .to_string();
        let stream = stream_call(
            &endpoint,
            "DynamoDBStreams_20120810.DescribeStream",
            serde_json::json!({ "StreamArn": arn }),
        )
        .await;
        let shard = stream["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .expect("a shard")
            .to_string();
        let it = stream_call(
            &endpoint,
            "DynamoDBStreams_20120810.GetShardIterator",
            serde_json::json!({ "StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON" }),
        )
        .await;
        let iterator = it["ShardIterator"]
            .as_str()
            .expect("an iterator")
            .to_string();
        TableStream {
            endpoint,
            arn,
            iterator: tokio::sync::Mutex::new(iterator),
        }
    }

    /// The records since the last call, oldest first.
    pub async fn next_records(&self) -> Vec<serde_json::Value> {
        let mut iterator = self.iterator.lock().await;
        let mut out = Vec::new();
        loop {
            let got = stream_call(
                &self.endpoint,
                "DynamoDBStreams_20120810.GetRecords",
                serde_json::json!({ "ShardIterator": *iterator }),
            )
            .await;
            if let Some(next) = got["NextShardIterator"].as_str() {
                *iterator = next.to_string();
            }
            let records = got["Records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                return out;
            }
            for mut r in records {
                r["eventSourceARN"] = self.arn.clone().into();
                r["awsRegion"] = "eu-west-2".into();
                out.push(r);
            }
        }
    }
}

/// One call of DynamoDB's (or DynamoDB Streams') JSON protocol to moto. moto does not check
/// signatures; it routes by the service the credential scope names.
async fn stream_call(endpoint: &str, target: &str, body: serde_json::Value) -> serde_json::Value {
    let text = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-2/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
        )
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", target)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{target}: {e}: {text}"))
}

/// A content-filtering pattern (Lambda event filtering / EventBridge syntax, the subset the
/// template uses: exact values, `anything-but`, `prefix`, `exists`) against an event.
pub fn pattern_matches(pattern: &serde_json::Value, event: Option<&serde_json::Value>) -> bool {
    match pattern {
        serde_json::Value::Object(fields) => fields.iter().all(|(k, p)| match (p, event) {
            (serde_json::Value::Array(_), Some(e)) => pattern_matches(p, e.get(k)),
            (serde_json::Value::Object(_), Some(e)) => {
                e.get(k).is_some() && pattern_matches(p, e.get(k))
            }
            (_, None) => false,
            _ => panic!("unsupported pattern {p}"),
        }),
        serde_json::Value::Array(alternatives) => alternatives.iter().any(|alt| match alt {
            serde_json::Value::Object(op) => {
                if let Some(excluded) = op.get("anything-but") {
                    let excluded = excluded
                        .as_array()
                        .cloned()
                        .unwrap_or_else(|| vec![excluded.clone()]);
                    event.is_some_and(|e| !excluded.contains(e))
                } else if let Some(prefix) = op.get("prefix").and_then(serde_json::Value::as_str) {
                    event
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|e| e.starts_with(prefix))
                } else if let Some(exists) = op.get("exists").and_then(serde_json::Value::as_bool) {
                    event.is_some() == exists
                } else {
                    panic!("unsupported pattern operator {alt}")
                }
            }
            scalar => event == Some(scalar),
        }),
        other => panic!("unsupported pattern {other}"),
    }
}

/// A function's DynamoDB stream trigger as infra/template.yaml declares it.
pub struct StreamTrigger {
    /// The event filters Lambda applies before a record reaches the function.
    pub filters: Vec<serde_json::Value>,
    pub batch_size: usize,
    /// Retries of a failed batch before it goes to the dead-letter queue.
    pub retries: usize,
}

impl StreamTrigger {
    /// The stream trigger of `function` (a logical id: `SpamVerifyFunction`).
    pub fn of(function: &str) -> StreamTrigger {
        let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
        let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let events = &template["Resources"][function]["Properties"]["Events"];
        let (_, event) = events
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| e["Type"].as_str() == Some("DynamoDB"))
            .unwrap_or_else(|| panic!("{function} has no stream trigger"));
        let props = &event["Properties"];
        let filters = props["FilterCriteria"]["Filters"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|f| serde_json::from_str(f["Pattern"].as_str().unwrap()).unwrap())
            .collect();
        StreamTrigger {
            filters,
            batch_size: props["BatchSize"].as_u64().unwrap_or(100) as usize,
            retries: props["MaximumRetryAttempts"].as_u64().unwrap_or(0) as usize,
        }
    }

    /// The records of a stream read this trigger passes to its function.
    pub fn select(&self, records: &[serde_json::Value]) -> Vec<serde_json::Value> {
        records
            .iter()
            .filter(|r| passes(&self.filters, r))
            .cloned()
            .collect()
    }
}

/// Does a stream record pass any of `filters`?
pub fn passes(filters: &[serde_json::Value], record: &serde_json::Value) -> bool {
    filters.iter().any(|p| pattern_matches(p, Some(record)))
}

/// SDK configuration for a moto endpoint (or a proxy in front of one): its region and
/// dummy credentials.
pub fn sdk_loader(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("eu-west-2"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
}

/// A page's status, content type and body.
type Page = (u16, String, String);

/// Pages other sites serve on loopback, by path (linkback sources); counts requests.
#[derive(Clone, Default)]
pub struct Sources {
    pages: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Page>>>,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Sources {
    pub async fn start(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    me.requests
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let (status, ct, body) =
                        me.pages.lock().unwrap().get(&path).cloned().unwrap_or((
                            404,
                            "text/plain".into(),
                            "not found".into(),
                        ));
                    let reply = if (300..400).contains(&status) {
                        format!("HTTP/1.1 {status} X\r\nLocation: {body}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    } else {
                        format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    pub fn set_redirect(&self, path: &str, location: &str) {
        self.pages
            .lock()
            .unwrap()
            .insert(path.into(), (302, String::new(), location.into()));
    }

    pub fn set(&self, path: &str, status: u16, body: &str) {
        self.pages.lock().unwrap().insert(
            path.into(),
            (status, "text/html; charset=utf-8".into(), body.into()),
        );
    }
}
