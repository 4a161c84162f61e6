//! A fault-injecting proxy between the functions' AWS clients and moto. Every request is
//! named by service (the SigV4 credential scope) and operation (the DynamoDB target, the S3
//! method and shape, the SES path); at the rate the plan sets for that service or operation
//! it answers with a fault instead of moto's reply:
//!
//! - `ServerError`: the service's own 500 (`InternalServerError`, `InternalError`, ...);
//! - `Throttle`: the service's throttling answer (`ThrottlingException`, S3's 503 `SlowDown`,
//!   SES's 429 `TooManyRequestsException`);
//! - `Reset`: the connection dropped before the request reaches moto;
//! - `Timeout`: no answer until the caller gives up (the request never reaches moto);
//! - `LostReply`: moto applies the request, then the connection drops before the reply:
//!   the caller cannot tell whether its write happened, and retries it.
//!
//! Faults are drawn from a seeded generator, so a failing run can be replayed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    ServerError,
    Throttle,
    Reset,
    Timeout,
    LostReply,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::ServerError,
        Fault::Throttle,
        Fault::Reset,
        Fault::Timeout,
        Fault::LostReply,
    ];
}

/// One request through the proxy.
#[derive(Debug, Clone)]
pub struct Call {
    /// `dynamodb.PutItem`, `s3.GetObject`, `ses.SendEmail`, ...
    pub operation: String,
    pub fault: Option<Fault>,
}

/// What to inject: a rate (0 to 1) per service or per `service.Operation` (the more
/// specific wins), and the kinds of fault drawn from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rates: HashMap<String, f64>,
    pub kinds: Vec<Fault>,
    /// How long a `Timeout` holds the request (longer than the clients' attempt timeout).
    pub stall: Duration,
}

impl Plan {
    /// No faults.
    pub fn none() -> Plan {
        Plan {
            rates: HashMap::new(),
            kinds: Fault::ALL.to_vec(),
            stall: Duration::from_secs(2),
        }
    }

    /// Every kind of fault at `rate` for each of `services`.
    pub fn every_kind(services: &[&str], rate: f64) -> Plan {
        let mut plan = Plan::none();
        for s in services {
            plan.rates.insert((*s).to_string(), rate);
        }
        plan
    }

    fn rate_for(&self, operation: &str) -> f64 {
        if let Some(r) = self.rates.get(operation) {
            return *r;
        }
        let service = operation.split('.').next().unwrap_or_default();
        self.rates.get(service).copied().unwrap_or(0.0)
    }
}

struct State {
    upstream: String,
    client: reqwest::Client,
    plan: Mutex<Plan>,
    rng: Mutex<rand::rngs::StdRng>,
    calls: Mutex<Vec<Call>>,
}

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (moto's endpoint), injecting nothing until [`FaultProxy::set_plan`].
    pub async fn start(upstream: &str, seed: u64) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            plan: Mutex::new(Plan::none()),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            calls: Mutex::new(Vec::new()),
        });
        let served = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { state.serve(req).await }
                    });
                    // An injected reset ends the connection with an error: nothing to report.
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint,
            state,
            task,
        }
    }

    pub fn set_plan(&self, plan: Plan) {
        *self.state.plan.lock().unwrap() = plan;
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Requests and faults so far, per operation: `(requests, faults)`.
    pub fn tally(&self) -> BTreeMap<String, (usize, usize)> {
        let mut out = BTreeMap::<String, (usize, usize)>::new();
        for c in self.calls() {
            let e = out.entry(c.operation).or_default();
            e.0 += 1;
            e.1 += usize::from(c.fault.is_some());
        }
        out
    }

    /// Faults so far, by kind.
    pub fn faults_by_kind(&self) -> BTreeMap<Fault, usize> {
        let mut out = BTreeMap::new();
        for f in self.calls().into_iter().filter_map(|c| c.fault) {
            *out.entry(f).or_default() += 1;
        }
        out
    }

    /// Faults injected so far.
    pub fn faults(&self) -> usize {
        let calls = self.state.calls.lock().unwrap();
        calls.iter().filter(|c| c.fault.is_some()).count()
    }

    /// SDK configuration that goes through this proxy, with the same retry and timeout
    /// settings as a function on AWS, except a short backoff and attempt timeout so a run
    /// with hundreds of faults takes seconds.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        crate::sdk_loader(&self.endpoint)
            .retry_config(
                shared::adapters::aws::retry_config()
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .operation_attempt_timeout(Duration::from_millis(400))
                    .build(),
            )
            .load()
            .await
    }
}

impl State {
    async fn serve(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let operation = operation_of(&parts);
        let fault = self.draw(&operation);
        self.calls.lock().unwrap().push(Call {
            operation: operation.clone(),
            fault,
        });
        match fault {
            Some(Fault::ServerError) => return Ok(error_reply(&operation, false)),
            Some(Fault::Throttle) => return Ok(error_reply(&operation, true)),
            Some(Fault::Reset) => return Err(std::io::Error::other("injected reset")),
            Some(Fault::Timeout) => {
                let stall = self.plan.lock().unwrap().stall;
                tokio::time::sleep(stall).await;
                return Err(std::io::Error::other("injected timeout"));
            }
            Some(Fault::LostReply) | None => {}
        }
        let reply = self.forward(&parts, body).await?;
        if fault == Some(Fault::LostReply) {
            return Err(std::io::Error::other("injected lost reply"));
        }
        Ok(reply)
    }

    fn draw(&self, operation: &str) -> Option<Fault> {
        let plan = self.plan.lock().unwrap();
        let rate = plan.rate_for(operation);
        if rate <= 0.0 || plan.kinds.is_empty() {
            return None;
        }
        let mut rng = self.rng.lock().unwrap();
        if rng.gen::<f64>() >= rate {
            return None;
        }
        Some(plan.kinds[rng.gen_range(0..plan.kinds.len())])
    }

    async fn forward(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<hyper::Response<Full<Bytes>>, std::io::Error> {
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut out = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                out = out.header(name, value);
            }
        }
        let answer = out.body(body).send().await.map_err(std::io::Error::other)?;
        let mut reply = hyper::Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if name != http::header::TRANSFER_ENCODING && name != http::header::CONTENT_LENGTH {
                reply = reply.header(name, value);
            }
        }
        let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
        reply.body(Full::new(bytes)).map_err(std::io::Error::other)
    }
}

/// `service.Operation` of a request as the SDK sends it.
fn operation_of(parts: &http::request::Parts) -> String {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `Credential=AKID/20261201/eu-west-2/dynamodb/aws4_request`
    let service = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let op = match service.as_str() {
        "dynamodb" => parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("Unknown")
            .to_string(),
        "s3" => {
            let path = parts.uri.path().trim_start_matches('/');
            let query = parts.uri.query().unwrap_or_default();
            let has_key = path.contains('/');
            match (parts.method.as_str(), has_key) {
                ("GET", true) => "GetObject",
                ("HEAD", true) => "HeadObject",
                ("PUT", true) if parts.headers.contains_key("x-amz-copy-source") => "CopyObject",
                ("PUT", true) => "PutObject",
                ("DELETE", true) => "DeleteObject",
                ("POST", false) if query.contains("delete") => "DeleteObjects",
                ("GET", false) => "ListObjectsV2",
                _ => "Other",
            }
            .to_string()
        }
        "ses" if parts.uri.path().ends_with("/outbound-emails") => "SendEmail".into(),
        _ => parts
            .uri
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .into(),
    };
    format!("{service}.{op}")
}

/// The error reply each service gives for an internal failure or a throttle.
fn error_reply(operation: &str, throttle: bool) -> hyper::Response<Full<Bytes>> {
    let service = operation.split('.').next().unwrap_or_default();
    let head = operation.ends_with(".HeadObject");
    let (status, content_type, code_header, body) = match (service, throttle) {
        ("dynamodb", t) => {
            let code = if t {
                "ThrottlingException"
            } else {
                "InternalServerError"
            };
            (
                if t { 400 } else { 500 },
                "application/x-amz-json-1.0",
                None,
                format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected fault"}}"#
                ),
            )
        }
        ("s3", t) => {
            let code = if t { "SlowDown" } else { "InternalError" };
            (
                if t { 503 } else { 500 },
                "application/xml",
                None,
                format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected fault</Message><RequestId>fault</RequestId></Error>"#
                ),
            )
        }
        (_, t) => {
            let code = if t {
                "TooManyRequestsException"
            } else {
                "InternalFailure"
            };
            (
                if t { 429 } else { 500 },
                "application/json",
                Some(code),
                r#"{"message":"injected fault"}"#.to_string(),
            )
        }
    };
    let mut reply = hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amz-request-id", "fault");
    if let Some(code) = code_header {
        reply = reply.header("x-amzn-errortype", code);
    }
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    reply.body(Full::new(body)).unwrap()
}
