//! `infra/template.yaml` held against the code and the sample events.
//!
//! - every crate under `functions/` has exactly one `AWS::Serverless::Function`, built by
//!   cargo-lambda from that crate's binary, and `cargo lambda deploy` would give it the
//!   memory and timeout the template gives it;
//! - every environment variable a function's `main.rs` reads is set for it, and nothing
//!   else is (besides `RUST_LOG` and the secrets revision marker); secrets come from dynamic
//!   references, never from parameters;
//! - every trigger of a function has a sample in `events/` that it matches (S3 key filters,
//!   DynamoDB stream filter patterns, schedule rule, HTTP route), and every sample in
//!   `events/` reaches exactly one function;
//! - the IAM actions granted to a function are exactly the ones the table below says it
//!   needs, on exactly those resources, and every action is one the adapters its `main.rs`
//!   builds can perform;
//! - in the table, each action reaches only the partitions the function uses
//!   (`dynamodb:LeadingKeys`, `partitions()`), and no function that reads what strangers send
//!   can reach the supporters' records; a local run of every function's main paths stays
//!   within those partitions and uses them; spam-verify may mail only the moderator;
//! - every HTTP route has a throttle of its own, and one-click unsubscribe the most room;
//! - every event-driven function has a failure destination, every function a log group with
//!   retention and its alarms;
//! - CloudFront's response headers policy sends the browser security headers the code
//!   defines (`shared::http::security_headers`), on every behaviour.
//!
//! The template is read as YAML with its CloudFormation tags (`!Sub`, `!Ref`, `!GetAtt`...)
//! kept as tagged values.
//!
//! Long on purpose: the template and the code are read once and held against each other
//! from every side; splitting would scatter the one table (`needed()`) the checks share.

use integration_tests::root;
use serde_json::Value as Json;
use serde_norway::Value;
use shared::signing::Purpose;
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------------------
// What each adapter can do, in IAM actions. A function may be granted only actions of the
// adapters its main.rs builds (AwsParts records them).
//
// - S3BlobStore: get -> GetObject; md5 -> HeadObject, which IAM authorises as GetObject;
//   put -> PutObject; delete -> DeleteObject; list / md5_all -> ListObjectsV2, authorised
//   as ListBucket (on the bucket, not on objects).
// - DynamoItemStore: get -> GetItem; put -> PutItem (conditional or not); delete ->
//   DeleteItem; query / query_gsi1 -> Query (on the table or on index/gsi1); increment ->
//   UpdateItem.
// - SesMailer: SES v2 SendEmail with raw content. IAM knows it as ses:SendEmail; raw
//   sending is also checked as ses:SendRawEmail, so both are granted together.
// ---------------------------------------------------------------------------------------
const ADAPTERS: &[(&str, &[&str])] = &[
    (
        "S3BlobStore",
        &[
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
        ],
    ),
    (
        "DynamoItemStore",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ],
    ),
    ("SesMailer", &["ses:SendEmail", "ses:SendRawEmail"]),
];

// ---------------------------------------------------------------------------------------
// What each function actually does with those adapters (read from its handler and the
// shared code it calls), as (action, resource) pairs. Resources are written as
// `content/<key or prefix>` (content bucket objects), `content` (the bucket itself, for
// listing), `site`, `site/*`, `table`, `table/index/gsi1`, `ses:identity/*`.
//
// Every function that reads optional content files also lists the content bucket: without
// s3:ListBucket, S3 answers 403 instead of 404 for a missing key, and S3BlobStore::get
// turns only "no such key" into "absent".
// ---------------------------------------------------------------------------------------
fn needed() -> BTreeMap<&'static str, BTreeSet<(&'static str, &'static str)>> {
    // SiteContext::load: site.toml, quotes.toml (optional), templates/ (listed, each read),
    // static/theme.css (optional). Used by every page a form function renders.
    let site_context: &[(&str, &str)] = &[
        ("s3:ListBucket", "content"),
        ("s3:GetObject", "content/site.toml"),
        ("s3:GetObject", "content/quotes.toml"),
        ("s3:GetObject", "content/templates/*"),
        ("s3:GetObject", "content/static/theme.css"),
    ];
    let ses: &[(&str, &str)] = &[
        ("ses:SendEmail", "ses:identity/*"),
        ("ses:SendRawEmail", "ses:identity/*"),
    ];
    let mut m = BTreeMap::new();
    m.insert(
        // Builder: lists and reads every content prefix it renders, reads and writes its
        // own state under _state/, mirrors pages into the site bucket (md5 via HeadObject,
        // put, delete of removed pages, listing for the full build), and queries the
        // approved comments of a post (table key, no index).
        "render",
        [
            ("s3:ListBucket", "content"),
            ("s3:GetObject", "content/posts/*"),
            ("s3:GetObject", "content/pages/*"),
            ("s3:GetObject", "content/photos/*"),
            ("s3:GetObject", "content/templates/*"),
            ("s3:GetObject", "content/static/*"),
            ("s3:GetObject", "content/site.toml"),
            ("s3:GetObject", "content/quotes.toml"),
            // Builder::publish_redirects (the redirect objects are site/* puts).
            ("s3:GetObject", "content/redirects.txt"),
            ("s3:GetObject", "content/_state/*"),
            ("s3:PutObject", "content/_state/*"),
            ("s3:ListBucket", "site"),
            ("s3:GetObject", "site/*"),
            ("s3:PutObject", "site/*"),
            ("s3:DeleteObject", "site/*"),
            ("dynamodb:Query", "table"),
        ]
        .into_iter()
        .collect(),
    );
    m.insert(
        // Pages::post (posts/<slug>.md), Pages::post_with_form (site context, the photo
        // index, approved comments by Query), Guard::rate (UpdateItem), comments::get of a
        // reply's parent (GetItem), comments::store_pending (conditional PutItem).
        "comment-submit",
        site_context
            .iter()
            .copied()
            .chain([
                ("s3:GetObject", "content/posts/*"),
                ("s3:GetObject", "content/_state/photo-index.json"),
                ("dynamodb:GetItem", "table"),
                ("dynamodb:PutItem", "table"),
                ("dynamodb:UpdateItem", "table"),
                ("dynamodb:Query", "table"),
            ])
            .collect(),
    );
    m.insert(
        // blocklist.txt; for the moderator's mail Pages::config (site.toml) and
        // Pages::post (the title). comments::is_duplicate (GetItem, PutItem),
        // comments::is_trusted (Query of the author's approvals), the scored comment (comments::set_status:
        // conditional PutItem), comments::find for {"rescore": id} (Query on gsi1). No
        // UpdateItem: only a moderator's approval counts toward trust
        // (comments::count_moderator_approval, in moderate). SES for the mail.
        "spam-verify",
        [
            ("s3:ListBucket", "content"),
            ("s3:GetObject", "content/blocklist.txt"),
            ("s3:GetObject", "content/site.toml"),
            ("s3:GetObject", "content/posts/*"),
            ("dynamodb:GetItem", "table"),
            ("dynamodb:PutItem", "table"),
            // filter::examples: the moderator's verdicts (partition SPAMFILTER).
            ("dynamodb:Query", "table"),
            ("dynamodb:Query", "table/index/gsi1"),
        ]
        .into_iter()
        .chain(ses.iter().copied())
        .collect(),
    );
    m.insert(
        // Pages::config (site.toml), Pages::post (posts/<slug>.md), Pages::blocklist;
        // RateLimiter::check per IP and per source domain (UpdateItem), a pingback already
        // registered (GetItem), the queued mention (PutItem).
        "linkbacks",
        [
            ("s3:ListBucket", "content"),
            ("s3:GetObject", "content/site.toml"),
            ("s3:GetObject", "content/posts/*"),
            ("s3:GetObject", "content/blocklist.txt"),
            ("dynamodb:GetItem", "table"),
            ("dynamodb:PutItem", "table"),
            ("dynamodb:UpdateItem", "table"),
        ]
        .into_iter()
        .collect(),
    );
    m.insert(
        // Pages::config (site.toml, for the User-Agent); comments::get (GetItem), the
        // mention as a comment and the mention's status (PutItem), comments::delete when
        // taken down (DeleteItem).
        "linkback-verify",
        [
            ("s3:ListBucket", "content"),
            ("s3:GetObject", "content/site.toml"),
            ("dynamodb:GetItem", "table"),
            ("dynamodb:PutItem", "table"),
            ("dynamodb:DeleteItem", "table"),
        ]
        .into_iter()
        .collect(),
    );
    m.insert(
        // Pages::message and Pages::config (site context), comments::get (GetItem),
        // moderation::consume (conditional PutItem), moderation::apply: comments::delete
        // (DeleteItem) or comments::set_status (PutItem), the author's approval and the
        // filter's example (PutItem); the list of held comments, comments::with_status
        // (Query on gsi1).
        "moderate",
        site_context
            .iter()
            .copied()
            .chain([
                ("dynamodb:GetItem", "table"),
                ("dynamodb:PutItem", "table"),
                ("dynamodb:DeleteItem", "table"),
                ("dynamodb:Query", "table/index/gsi1"),
            ])
            .collect(),
    );
    m.insert(
        // Pages::signup_with_form, ::message, ::config (site context); supporters::
        // confirm / erase / stop_newsletter / find_by_manage_token (GetItem, conditional
        // PutItem, DeleteItem), supporters::queue_mail (PutItem), Guard::rate (UpdateItem).
        // No SES: the mails are supporter-mail's.
        "signup",
        site_context
            .iter()
            .copied()
            .chain([
                ("dynamodb:GetItem", "table"),
                ("dynamodb:PutItem", "table"),
                ("dynamodb:DeleteItem", "table"),
                ("dynamodb:UpdateItem", "table"),
            ])
            .collect(),
    );
    m.insert(
        // Pages::config (site.toml: the title and API address in the mails);
        // supporters::take_up_request (GetItem of the request, supporter and suppression,
        // conditional PutItem of the decision, UpdateItem of the day's allowance),
        // prepare_mail (GetItem; store_pending: conditional PutItem, DeleteItem of a
        // replaced token), finish_request (DeleteItem). SES for the mails.
        "supporter-mail",
        [
            ("s3:ListBucket", "content"),
            ("s3:GetObject", "content/site.toml"),
            ("dynamodb:GetItem", "table"),
            ("dynamodb:PutItem", "table"),
            ("dynamodb:DeleteItem", "table"),
            ("dynamodb:UpdateItem", "table"),
        ]
        .into_iter()
        .chain(ses.iter().copied())
        .collect(),
    );
    m
}

/// Variables set for a function that its main.rs does not read through `Env`:
/// `RUST_LOG` is read by `shared::telemetry` (tracing's EnvFilter); `SECRETS_REVISION`
/// only makes CloudFormation update the functions (and so re-resolve the secrets).
const EXTRA_VARS: &[&str] = &["RUST_LOG", "SECRETS_REVISION"];

/// Values the samples in `events/` were made with (`SiteName=campaign`).
const SAMPLE_PARAMS: &[(&str, &str)] = &[
    ("SiteName", "campaign"),
    ("AWS::AccountId", "123456789012"),
    ("AWS::Region", "eu-west-2"),
    ("AWS::Partition", "aws"),
];

// ---------------------------------------------------------------------------------------
// Reading the template
// ---------------------------------------------------------------------------------------

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    serde_norway::from_str(&text).expect("infra/template.yaml parses as YAML")
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.as_mapping()?.get(*k)?;
    }
    Some(cur)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A value with one CloudFormation tag (`!Sub x`, `!Ref x`, `!GetAtt x`), as (tag, value).
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        _ => None,
    }
}

/// A short description of a value for messages and comparisons: `Sub:...`, `Ref:X`,
/// `GetAtt:X.Y`, or the plain string.
fn describe(v: &Value) -> String {
    match tagged(v) {
        Some((tag, inner)) => match inner {
            Value::String(x) => format!("{tag}:{x}"),
            other => format!("{tag}:{other:?}"),
        },
        None => match v {
            Value::String(x) => x.clone(),
            other => format!("{other:?}"),
        },
    }
}

/// `!Sub` strings with the sample values substituted (other references left as they are).
fn substitute(text: &str) -> String {
    let mut out = text.to_string();
    for (k, v) in SAMPLE_PARAMS {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

/// The names of a list-or-scalar field.
fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

struct Function<'a> {
    logical_id: String,
    binary: String,
    props: &'a Value,
    metadata: &'a Value,
}

fn functions(t: &Value) -> Vec<Function<'_>> {
    let resources = get(t, &["Resources"]).unwrap().as_mapping().unwrap();
    resources
        .iter()
        .filter(|(_, r)| get(r, &["Type"]).map(s).as_deref() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| Function {
            logical_id: s(id),
            binary: get(r, &["Metadata", "BuildProperties", "Binary"])
                .map(s)
                .unwrap_or_else(|| panic!("{}: no Metadata.BuildProperties.Binary", s(id))),
            props: get(r, &["Properties"]).unwrap(),
            metadata: get(r, &["Metadata"]).unwrap(),
        })
        .collect()
}

/// Function crates: (package name, crate dir). Each has one binary, named after the
/// package (src/main.rs, no [[bin]] sections).
fn function_crates() -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = e.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let m: toml::Value = toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        assert!(
            m.get("bin").is_none(),
            "{}: [[bin]] sections: the test assumes one binary named after the package",
            manifest.display()
        );
        assert!(
            dir.join("src/main.rs").exists(),
            "{}: no src/main.rs",
            dir.display()
        );
        out.push((m["package"]["name"].as_str().unwrap().to_string(), dir));
    }
    out.sort();
    out
}

fn crate_dir(name: &str) -> std::path::PathBuf {
    function_crates()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no crate {name} under functions/"))
}

// ---------------------------------------------------------------------------------------
// Reading the code
// ---------------------------------------------------------------------------------------

/// Every variable any function may read, with a well-formed value.
const ALL_VARS: &[(&str, &str)] = &[
    ("TABLE_NAME", "t"),
    ("CONTENT_BUCKET", "c"),
    ("SITE_BUCKET", "s"),
    ("STATE_PREFIX", "_state/"),
    (
        "FORM_KEY",
        "0101010101010101010101010101010101010101010101010101010101010101",
    ),
    (
        "IDENTITY_KEY",
        "0202020202020202020202020202020202020202020202020202020202020202",
    ),
    (
        "MODERATION_KEY",
        "0303030303030303030303030303030303030303030303030303030303030303",
    ),
    (
        "SUPPORTER_KEY",
        "0404040404040404040404040404040404040404040404040404040404040404",
    ),
    (
        "HCAPTCHA_SECRET",
        "0x1111111111111111111111111111111111111111",
    ),
    ("HCAPTCHA_VERIFY_URL", "https://api.hcaptcha.com/siteverify"),
    ("RATE_LIMIT", "5"),
    ("MAIL_FROM", "site@example.org"),
    ("MODERATOR_EMAIL", "mod@example.org"),
];

/// What a function's `main.rs` does at start-up, done here: the variables it asks its
/// `Env` for, and the adapters it builds (`S3BlobStore`, `DynamoItemStore`, `SesMailer`).
fn start_up(binary: &str) -> (BTreeSet<String>, BTreeSet<&'static str>) {
    use shared::adapters::aws_parts::AwsParts;
    use shared::wiring::Parts;
    let env = shared::env::Env::from_pairs(ALL_VARS.iter().copied());
    let parts = AwsParts::new(&env);
    match binary {
        "render" => drop(parts.builder().unwrap()),
        "comment-submit" => drop(comment_submit::handler::Deps::build(&parts).unwrap()),
        "spam-verify" => drop(spam_verify::handler::Deps::build(&parts).unwrap()),
        "moderate" => drop(moderate::handler::Deps::build(&parts).unwrap()),
        "signup" => drop(signup::Deps::build(&parts).unwrap()),
        "linkbacks" => drop(linkbacks::handler::Deps::build(&parts).unwrap()),
        "linkback-verify" => drop(linkback_verify::handler::Deps::build(&parts).unwrap()),
        "supporter-mail" => drop(supporter_mail::handler::Deps::build(&parts).unwrap()),
        other => panic!("{other}: add how its main.rs builds its Deps to start_up()"),
    }
    (env.asked(), parts.built())
}

/// Environment variables a function reads at start-up through `shared::env::Env` to use
/// them (not the ones it reads only to refuse: [`REFUSED_VARS`]).
fn env_reads(binary: &str) -> BTreeSet<String> {
    let mut reads = start_up(binary).0;
    reads.retain(|v| !REFUSED_VARS.contains(&v.as_str()));
    reads
}

/// Variables a function looks for only to refuse to start when they are set: local test
/// settings that must never reach a Lambda. The template and cargo-lambda's watch set
/// must not set them.
const REFUSED_VARS: &[&str] = &[shared::adapters::aws_parts::LOOPBACK_SOURCES_VAR];

#[test]
fn local_test_settings_are_refused_by_the_lambdas_and_set_nowhere() {
    use shared::wiring::Parts;
    let t = template();
    for f in functions(&t) {
        for var in REFUSED_VARS {
            assert!(
                !environment(&t, &f).contains_key(*var),
                "{}: the template sets {var}",
                f.binary
            );
        }
    }
    let mut vars: Vec<(&str, &str)> = ALL_VARS.to_vec();
    vars.push((shared::adapters::aws_parts::LOOPBACK_SOURCES_VAR, "1"));
    let env = shared::env::Env::from_pairs(vars);
    let parts = shared::adapters::aws_parts::AwsParts::new(&env);
    let err = linkback_verify::handler::Deps::build(&parts)
        .err()
        .expect("linkback-verify refuses to start with loopback sources allowed");
    assert!(
        err.to_string().contains("LINKBACK_SOURCES_ON_LOOPBACK"),
        "{err}"
    );
    assert!(parts.source_access().is_err());
}

/// Each main.rs is wiring only: it reads its configuration through `Env` and builds its
/// parts through `AwsParts` (which `start_up` above does the same way).
fn main_rs(name: &str) -> String {
    let text = std::fs::read_to_string(crate_dir(name).join("src/main.rs")).unwrap();
    assert!(
        text.contains("Env::from_process()") && text.contains("AwsParts::new(&env)"),
        "{name}: main.rs does not build its parts through Env and AwsParts"
    );
    text
}

/// No function reads the environment behind `Env`'s back (the scan above would miss it).
#[test]
fn functions_read_the_environment_only_through_env() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    for (name, dir) in function_crates() {
        let mut files = Vec::new();
        sources(&dir.join("src"), &mut files);
        for p in files {
            let text = std::fs::read_to_string(&p).unwrap();
            for needle in ["env::var(", "env::var_os(", "env::vars("] {
                assert!(
                    !text.contains(needle),
                    "{name}: {} calls {needle}; read configuration through shared::env::Env",
                    p.display()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Functions and builds
// ---------------------------------------------------------------------------------------

#[test]
fn every_function_crate_has_exactly_one_function_built_by_cargo_lambda() {
    let t = template();
    let fns = functions(&t);
    let crates: Vec<String> = function_crates().into_iter().map(|(n, _)| n).collect();
    for name in &crates {
        let matching: Vec<&str> = fns
            .iter()
            .filter(|f| &f.binary == name)
            .map(|f| f.logical_id.as_str())
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "crate {name}: functions {matching:?} in the template"
        );
    }
    for f in &fns {
        assert!(
            crates.contains(&f.binary),
            "{}: Binary {} is no crate under functions/",
            f.logical_id,
            f.binary
        );
        assert_eq!(
            get(f.metadata, &["BuildMethod"]).map(s).as_deref(),
            Some("rust-cargolambda"),
            "{}",
            f.logical_id
        );
        assert_eq!(
            get(f.props, &["CodeUri"]).map(s).as_deref(),
            Some(".."),
            "{}",
            f.logical_id
        );
        let name = get(f.props, &["FunctionName"]).map(describe);
        assert_eq!(
            name.as_deref(),
            Some(format!("Sub:${{SiteName}}-{}", f.binary).as_str()),
            "{}: FunctionName should be <SiteName>-<crate> (docs/deploy.md relies on it for cargo lambda deploy)",
            f.logical_id
        );
    }
    let globals = get(&t, &["Globals", "Function"]).unwrap();
    assert_eq!(
        get(globals, &["Runtime"]).map(s).as_deref(),
        Some("provided.al2023")
    );
    assert_eq!(
        get(globals, &["Architectures"])
            .and_then(|a| a.as_sequence())
            .map(|a| a.iter().map(s).collect::<Vec<_>>()),
        Some(vec!["arm64".to_string()])
    );
    assert_eq!(
        get(globals, &["Handler"]).map(s).as_deref(),
        Some("bootstrap")
    );
    for f in &fns {
        for k in ["Runtime", "Architectures", "Handler"] {
            assert!(
                get(f.props, &[k]).is_none(),
                "{}: {k} overrides Globals",
                f.logical_id
            );
        }
    }
}

/// `cargo lambda deploy` applies `[package.metadata.lambda.deploy]` memory and timeout to
/// the function it updates: they must agree with the template, or a code-only update would
/// silently change the configuration.
#[test]
fn cargo_lambda_metadata_agrees_with_the_template() {
    let t = template();
    let globals = get(&t, &["Globals", "Function"]).unwrap();
    for f in functions(&t) {
        let manifest = crate_dir(&f.binary).join("Cargo.toml");
        let m: toml::Value = toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let lambda = m
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|p| p.get("lambda"))
            .unwrap_or_else(|| panic!("{}: no [package.metadata.lambda]", manifest.display()));
        for (key, prop) in [("memory", "MemorySize"), ("timeout", "Timeout")] {
            let in_template = get(f.props, &[prop])
                .or_else(|| get(globals, &[prop]))
                .map(s)
                .unwrap();
            let in_cargo = lambda
                .get("deploy")
                .and_then(|d| d.get(key))
                .map(|v| v.to_string())
                .unwrap_or_else(|| panic!("{}: no deploy.{key}", manifest.display()));
            assert_eq!(
                in_cargo, in_template,
                "{}: deploy.{key} vs {prop}",
                f.binary
            );
        }
        // `cargo lambda deploy` uploads [package.metadata.lambda.env] (and deploy.env_var)
        // as the deployed function's whole environment, replacing the template's: checked
        // against cargo-lambda 1.9.2 (docs/deploy.md). Local settings live under `watch`.
        assert!(
            lambda.get("env").is_none(),
            "{}: [package.metadata.lambda.env] would replace the deployed environment on `cargo lambda deploy`; use [package.metadata.lambda.watch] env_var",
            f.binary
        );
        let deploy = lambda.get("deploy").unwrap();
        for key in ["env", "env_var", "env_vars", "env_file"] {
            assert!(
                deploy.get(key).is_none(),
                "{}: deploy.{key} would replace the deployed environment",
                f.binary
            );
        }
        // `cargo lambda watch` runs the function with watch.env_var: every variable main.rs
        // reads must be there.
        let watch_env: BTreeSet<String> = lambda
            .get("watch")
            .and_then(|w| w.get("env_var"))
            .and_then(|e| e.as_array())
            .map(|e| {
                e.iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(|v| v.split_once('='))
                    .map(|(k, _)| k.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        main_rs(&f.binary);
        for var in env_reads(&f.binary) {
            assert!(
                watch_env.contains(&var),
                "{}: [package.metadata.lambda.watch] env_var lacks {var} (cargo lambda watch)",
                f.binary
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------

fn environment<'a>(t: &'a Value, f: &Function<'a>) -> BTreeMap<String, &'a Value> {
    let mut env = BTreeMap::new();
    for source in [
        get(t, &["Globals", "Function", "Environment", "Variables"]),
        get(f.props, &["Environment", "Variables"]),
    ]
    .into_iter()
    .flatten()
    {
        for (k, v) in source.as_mapping().unwrap() {
            env.insert(s(k), v);
        }
    }
    env
}

#[test]
fn every_variable_a_function_reads_is_set_and_nothing_else() {
    let t = template();
    for f in functions(&t) {
        main_rs(&f.binary);
        let reads = env_reads(&f.binary);
        assert!(
            !reads.is_empty(),
            "{}: no Env reads found in main.rs",
            f.binary
        );
        let env = environment(&t, &f);
        let set: BTreeSet<String> = env.keys().cloned().collect();
        let missing: Vec<_> = reads.difference(&set).collect();
        assert!(
            missing.is_empty(),
            "{}: reads {missing:?}, not set in the template",
            f.binary
        );
        let unread: Vec<_> = set
            .iter()
            .filter(|k| !reads.contains(*k) && !EXTRA_VARS.contains(&k.as_str()))
            .collect();
        assert!(
            unread.is_empty(),
            "{}: sets {unread:?}, which main.rs does not read",
            f.binary
        );
    }
}

#[test]
fn secrets_come_from_secrets_manager_never_parameters() {
    let t = template();
    let params = get(&t, &["Parameters"]).unwrap().as_mapping().unwrap();
    for (name, _) in params {
        let n = s(name).to_ascii_lowercase();
        let names_a_secret = n.contains("secret") && !n.contains("revision");
        assert!(
            !names_a_secret && !n.contains("signingkey"),
            "parameter {}: secrets must not be template parameters",
            s(name)
        );
    }
    let key_vars: Vec<&str> = Purpose::ALL.iter().map(|p| p.variable()).collect();
    for f in functions(&t) {
        for (var, value) in environment(&t, &f) {
            let d = describe(value);
            if key_vars.contains(&var.as_str()) {
                // Each key from its own field of the keys secret, by the same name.
                assert_eq!(
                    d,
                    format!("Sub:{{{{resolve:secretsmanager:${{SigningKeysSecret}}:SecretString:{var}}}}}"),
                    "{}: {var}",
                    f.binary
                );
            } else if var == "HCAPTCHA_SECRET" {
                assert!(
                    d.starts_with("Sub:{{resolve:secretsmanager:"),
                    "{}: {var} = {d} is not a dynamic reference",
                    f.binary
                );
            }
        }
    }
    // The keys secret starts with one placeholder per purpose that no function accepts (not
    // hex), so a deployment runs only once `site keys` has filled it.
    let placeholder = s(get(
        &t,
        &[
            "Resources",
            "SigningKeysSecret",
            "Properties",
            "SecretString",
        ],
    )
    .expect("SigningKeysSecret has a placeholder SecretString"));
    let placeholder: serde_json::Value = serde_json::from_str(&placeholder).unwrap();
    let fields: BTreeSet<&str> = placeholder
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, key_vars.iter().copied().collect());
    for var in &key_vars {
        let env = shared::env::Env::from_pairs([(*var, placeholder[*var].as_str().unwrap())]);
        let refused = match Purpose::ALL.iter().find(|p| p.variable() == *var).unwrap() {
            Purpose::Forms => env.form_key().is_err(),
            Purpose::Identity => env.identity_key().is_err(),
            Purpose::Moderation => env.moderation_key().is_err(),
            Purpose::Supporters => env.supporter_key().is_err(),
        };
        assert!(refused, "{var}: the placeholder is accepted as a key");
    }
}

/// `site keys` fills the keys secret: the fields the template reads, each a key the
/// functions accept; the master it prints makes the same keys again; an upgrade keeps the
/// old key where stored hashes and mailed links depend on it.
#[test]
fn site_keys_makes_the_keys_secret_the_functions_start_with() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let run = |master: Option<&str>, legacy: Option<&str>| {
        let mut cmd = Command::new(integration_tests::site_binary());
        cmd.arg("keys")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if master.is_some() {
            cmd.arg("--master-from-stdin");
        }
        if let Some(old) = legacy {
            cmd.args(["--keep-from-env", "OLD_SIGNING_KEY"])
                .env("OLD_SIGNING_KEY", old);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(master.unwrap_or("").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Json = serde_json::from_slice(&out.stdout).unwrap();
        (json, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (made, said) = run(None, None);
    let t = template();
    let placeholder: Json = serde_json::from_str(&s(get(
        &t,
        &[
            "Resources",
            "SigningKeysSecret",
            "Properties",
            "SecretString",
        ],
    )
    .unwrap()))
    .unwrap();
    let fields = |j: &Json| j.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(fields(&made), fields(&placeholder));
    let pairs: Vec<(String, String)> = made
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let env = shared::env::Env::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    env.form_key().unwrap();
    env.identity_key().unwrap();
    env.moderation_key().unwrap();
    env.supporter_key().unwrap();
    let values: BTreeSet<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values.len(), 4, "each purpose has its own key");
    // The master is on standard error, never in the secret.
    let master = said
        .split_whitespace()
        .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no master key in {said:?}"));
    assert!(!values.contains(master));
    assert_eq!(
        run(Some(master), None).0,
        made,
        "the master makes the same keys"
    );
    let old = "ab".repeat(32);
    let (upgraded, _) = run(Some(master), Some(&old));
    assert_eq!(upgraded["IDENTITY_KEY"], old.as_str());
    assert_eq!(upgraded["SUPPORTER_KEY"], old.as_str());
    assert_eq!(upgraded["FORM_KEY"], made["FORM_KEY"]);
    assert_eq!(upgraded["MODERATION_KEY"], made["MODERATION_KEY"]);
}

/// The purpose keys the template gives a function (`FORM_KEY`, ...).
pub(crate) fn keys_of(binary: &str) -> Vec<&'static str> {
    let t = template();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary == binary)
        .unwrap_or_else(|| panic!("{binary}: not in the template"));
    let env = environment(&t, &f);
    Purpose::ALL
        .iter()
        .map(|p| p.variable())
        .filter(|v| env.contains_key(*v))
        .collect()
}

#[test]
fn each_function_holds_only_the_keys_of_its_purposes() {
    // The functions that read strangers' text (comments, linkbacks) or act on a moderator's
    // link cannot make a supporter's manage or confirmation link, and only the verifier and
    // the moderation function can make or read a moderation link. `every_variable_a_function_
    // reads_is_set_and_nothing_else` holds the template to what each function asks for;
    // this holds what they ask for to the purposes they serve.
    let expected: &[(&str, &[&str])] = &[
        ("render", &["FORM_KEY"]),
        ("comment-submit", &["FORM_KEY", "IDENTITY_KEY"]),
        ("spam-verify", &["IDENTITY_KEY", "MODERATION_KEY"]),
        ("moderate", &["MODERATION_KEY"]),
        ("signup", &["FORM_KEY", "IDENTITY_KEY", "SUPPORTER_KEY"]),
        ("linkbacks", &["IDENTITY_KEY"]),
        ("linkback-verify", &[]),
        ("supporter-mail", &["SUPPORTER_KEY"]),
    ];
    let t = template();
    assert_eq!(functions(&t).len(), expected.len());
    for (binary, keys) in expected {
        assert_eq!(keys_of(binary), *keys, "{binary}");
        let asked: Vec<String> = start_up(binary)
            .0
            .into_iter()
            .filter(|v| v.ends_with("_KEY"))
            .collect();
        assert_eq!(asked, *keys, "{binary} asks for");
    }
}

// ---------------------------------------------------------------------------------------
// Triggers and samples
// ---------------------------------------------------------------------------------------

struct Trigger<'a> {
    function: String,
    name: String,
    kind: String,
    props: &'a Value,
}

fn triggers<'a>(fns: &[Function<'a>]) -> Vec<Trigger<'a>> {
    let mut out = Vec::new();
    for f in fns {
        if let Some(events) = get(f.props, &["Events"]).and_then(|e| e.as_mapping()) {
            for (name, e) in events {
                out.push(Trigger {
                    function: f.binary.clone(),
                    name: s(name),
                    kind: s(get(e, &["Type"]).unwrap()),
                    props: get(e, &["Properties"]).unwrap(),
                });
            }
        }
    }
    out
}

fn samples() -> Vec<(String, Json)> {
    let mut out: Vec<(String, Json)> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The sample file prefix each trigger type is matched against.
fn sample_prefix(kind: &str) -> &'static str {
    match kind {
        "S3" => "s3-",
        "DynamoDB" => "dynamodb-",
        "Schedule" => "schedule-",
        "HttpApi" => "apigw-",
        other => panic!("trigger type {other}: no sample convention (add one here and in events/)"),
    }
}

fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Does this sample reach the function through this trigger?
fn trigger_matches(t: &Template, trigger: &Trigger, sample: &Json) -> bool {
    match trigger.kind.as_str() {
        "S3" => {
            let events: Vec<String> = list(get(trigger.props, &["Events"]).unwrap())
                .into_iter()
                .map(s)
                .collect();
            let rules = get(trigger.props, &["Filter", "S3Key", "Rules"])
                .and_then(|r| r.as_sequence())
                .cloned()
                .unwrap_or_default();
            let bucket = t.bucket_name(get(trigger.props, &["Bucket"]).unwrap());
            let records = sample["Records"].as_array().cloned().unwrap_or_default();
            !records.is_empty()
                && records.iter().all(|r| {
                    let name = format!("s3:{}", r["eventName"].as_str().unwrap_or(""));
                    let key = r["s3"]["object"]["key"].as_str().unwrap_or("");
                    r["eventSource"] == "aws:s3"
                        && r["s3"]["bucket"]["name"].as_str() == Some(bucket.as_str())
                        && events.iter().any(|p| wildcard_match(p, &name))
                        && rules.iter().all(|rule| {
                            let value = s(get(rule, &["Value"]).unwrap());
                            match s(get(rule, &["Name"]).unwrap()).as_str() {
                                "prefix" => key.starts_with(&value),
                                "suffix" => key.ends_with(&value),
                                other => panic!("S3 filter rule {other}"),
                            }
                        })
                })
        }
        "DynamoDB" => {
            assert_eq!(
                get(trigger.props, &["Stream"]).map(describe).as_deref(),
                Some("GetAtt:RecordsTable.StreamArn"),
                "{}.{}: stream of the records table",
                trigger.function,
                trigger.name
            );
            let filters: Vec<Json> = get(trigger.props, &["FilterCriteria", "Filters"])
                .and_then(|f| f.as_sequence())
                .unwrap_or_else(|| {
                    panic!("{}.{}: no FilterCriteria", trigger.function, trigger.name)
                })
                .iter()
                .map(|f| {
                    serde_json::from_str(&s(get(f, &["Pattern"]).unwrap())).expect("a JSON pattern")
                })
                .collect();
            let records = sample["Records"].as_array().cloned().unwrap_or_default();
            !records.is_empty()
                && records.iter().all(|r| {
                    r["eventSource"] == "aws:dynamodb"
                        && filters
                            .iter()
                            .any(|p| integration_tests::pattern_matches(p, Some(r)))
                })
        }
        "Schedule" => {
            let rule = substitute(&s(tagged(
                get(trigger.props, &["Name"]).expect("a named rule"),
            )
            .map(|(_, v)| v)
            .unwrap()));
            sample["detail-type"] == "Scheduled Event"
                && sample["source"] == "aws.events"
                && sample["resources"].as_array().is_some_and(|r| {
                    r.iter().any(|a| {
                        a.as_str()
                            .is_some_and(|a| a.ends_with(&format!(":rule/{rule}")))
                    })
                })
        }
        "HttpApi" => {
            assert_eq!(
                get(trigger.props, &["ApiId"]).map(describe).as_deref(),
                Some("Ref:HttpApi"),
                "{}.{}: routes belong to the one HTTP API",
                trigger.function,
                trigger.name
            );
            let route = format!(
                "{} {}",
                s(get(trigger.props, &["Method"]).unwrap()).to_ascii_uppercase(),
                s(get(trigger.props, &["Path"]).unwrap())
            );
            sample["routeKey"].as_str() == Some(route.as_str()) && sample["version"] == "2.0"
        }
        _ => false,
    }
}

/// Does this sample reach the function through one of these triggers? A sample with several
/// records (S3, streams) does if each record is let through by one of them: S3 notification
/// configurations and stream filters apply per record.
fn reaches_through(t: &Template, trs: &[&Trigger], sample: &Json) -> bool {
    match sample.get("Records").and_then(Json::as_array) {
        Some(records) => {
            !records.is_empty()
                && records.iter().all(|r| {
                    let one = serde_json::json!({ "Records": [r] });
                    trs.iter().any(|tr| trigger_matches(t, tr, &one))
                })
        }
        None => trs.iter().any(|tr| trigger_matches(t, tr, sample)),
    }
}

/// Template-level lookups the matchers need.
struct Template<'a> {
    t: &'a Value,
}

impl Template<'_> {
    /// A bucket's name with the sample parameters, from `!Ref Bucket` and its BucketName.
    fn bucket_name(&self, r: &Value) -> String {
        let (tag, id) = tagged(r).expect("Bucket: !Ref <bucket>");
        assert_eq!(tag, "Ref");
        let name = get(self.t, &["Resources", &s(id), "Properties", "BucketName"])
            .expect("bucket has a fixed name");
        let (_, text) = tagged(name).expect("BucketName: !Sub ...");
        substitute(&s(text))
    }
}

#[test]
fn every_trigger_has_a_sample_and_every_sample_reaches_one_function() {
    let t = template();
    let lookup = Template { t: &t };
    let fns = functions(&t);
    let trig = triggers(&fns);
    let samples = samples();
    assert!(!samples.is_empty());

    // Each trigger type of each function: at least one sample of its kind that it matches.
    let mut by_kind: BTreeMap<(String, String), Vec<&Trigger>> = BTreeMap::new();
    for tr in &trig {
        by_kind
            .entry((tr.function.clone(), tr.kind.clone()))
            .or_default()
            .push(tr);
    }
    for ((function, kind), trs) in &by_kind {
        let prefix = sample_prefix(kind);
        let matched: Vec<&str> = samples
            .iter()
            .filter(|(name, v)| name.starts_with(prefix) && reaches_through(&lookup, trs, v))
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(
            !matched.is_empty(),
            "{function}: no {prefix}*.json sample matches its {kind} triggers"
        );
        eprintln!("{function} {kind}: {matched:?}");
    }
    // Routes without a sample of their own are allowed, but reported.
    for tr in trig.iter().filter(|tr| tr.kind == "HttpApi") {
        if !samples.iter().any(|(_, v)| trigger_matches(&lookup, tr, v)) {
            eprintln!(
                "note: {} route {} has no events/apigw-*.json sample of its own",
                tr.function, tr.name
            );
        }
    }

    // Each sample: exactly one function (through any of its triggers).
    for (name, v) in &samples {
        let reached: BTreeSet<&str> = by_kind
            .iter()
            .filter(|((_, kind), trs)| {
                name.starts_with(sample_prefix(kind)) && reaches_through(&lookup, trs, v)
            })
            .map(|((function, _), _)| function.as_str())
            .collect();
        assert_eq!(
            reached.len(),
            1,
            "events/{name} reaches {reached:?}; it should reach exactly one function"
        );
    }
}

/// The stream filters mirror what the handlers act on: a record the filter drops is one the
/// handler would ignore, checked on made-up records around the samples.
#[test]
fn stream_filters_pass_exactly_what_the_handlers_act_on() {
    let t = template();
    let fns = functions(&t);
    let trig = triggers(&fns);
    let lookup = Template { t: &t };
    let stream = |name: &str, old: Option<(&str, &str)>, new: Option<(&str, &str)>| -> Json {
        let image = |x: Option<(&str, &str)>| match x {
            Some((ty, status)) => serde_json::json!({"type": {"S": ty}, "status": {"S": status}}),
            None => serde_json::json!(null),
        };
        let mut ddb = serde_json::Map::new();
        if old.is_some() {
            ddb.insert("OldImage".into(), image(old));
        }
        if new.is_some() {
            ddb.insert("NewImage".into(), image(new));
        }
        serde_json::json!({"Records": [{"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": ddb}]})
    };
    let reaches = |event: &Json| -> BTreeSet<String> {
        trig.iter()
            .filter(|tr| tr.kind == "DynamoDB" && trigger_matches(&lookup, tr, event))
            .map(|tr| tr.function.clone())
            .collect()
    };
    let cases: &[(&str, Json, &[&str])] = &[
        (
            "new pending comment",
            stream("INSERT", None, Some(("comment", "pending"))),
            &["spam-verify"],
        ),
        (
            "held comment sent back to pending",
            stream(
                "MODIFY",
                Some(("comment", "held")),
                Some(("comment", "pending")),
            ),
            &["spam-verify"],
        ),
        (
            "spam-verify's own write (rules added, still pending)",
            stream(
                "MODIFY",
                Some(("comment", "pending")),
                Some(("comment", "pending")),
            ),
            &[],
        ),
        (
            "pending comment approved",
            stream(
                "MODIFY",
                Some(("comment", "pending")),
                Some(("comment", "approved")),
            ),
            &["render"],
        ),
        (
            "pending comment held",
            stream(
                "MODIFY",
                Some(("comment", "pending")),
                Some(("comment", "held")),
            ),
            &[],
        ),
        (
            "approved comment marked spam",
            stream(
                "MODIFY",
                Some(("comment", "approved")),
                Some(("comment", "spam")),
            ),
            &["render"],
        ),
        (
            "approved comment deleted",
            stream("REMOVE", Some(("comment", "approved")), None),
            &["render"],
        ),
        (
            "spam comment deleted",
            stream("REMOVE", Some(("comment", "spam")), None),
            &[],
        ),
        (
            "a mention queued",
            stream("INSERT", None, Some(("mention", "queued"))),
            &["linkback-verify"],
        ),
        (
            "the same mention sent again",
            stream(
                "MODIFY",
                Some(("mention", "received")),
                Some(("mention", "queued")),
            ),
            &["linkback-verify"],
        ),
        (
            "linkback-verify's own write (what it found)",
            stream(
                "MODIFY",
                Some(("mention", "queued")),
                Some(("mention", "received")),
            ),
            &[],
        ),
        (
            "a supporter record",
            stream("INSERT", None, Some(("supporter", "pending"))),
            &[],
        ),
        (
            "a mail request queued (sign-up, my data)",
            stream("INSERT", None, Some(("mail-request", "queued"))),
            &["supporter-mail"],
        ),
        (
            "a mail request replaced by a newer one before it was handled",
            stream(
                "MODIFY",
                Some(("mail-request", "queued")),
                Some(("mail-request", "queued")),
            ),
            &["supporter-mail"],
        ),
        (
            "supporter-mail's own write (what it decided)",
            stream(
                "MODIFY",
                Some(("mail-request", "queued")),
                Some(("mail-request", "decided")),
            ),
            &[],
        ),
        (
            "a mail request done with (deleted, or expired by TTL)",
            stream("REMOVE", Some(("mail-request", "decided")), None),
            &[],
        ),
    ];
    for (what, event, expected) in cases {
        let got = reaches(event);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, expected, "{what}");
        // The supporter mail sender takes up exactly what its filter passes.
        let new_image: Option<shared::ports::Item> = event
            .pointer("/Records/0/dynamodb/NewImage")
            .and_then(Json::as_object)
            .map(|image| {
                image
                    .iter()
                    .map(|(k, v)| (k.clone(), v["S"].clone()))
                    .collect()
            });
        assert_eq!(
            new_image
                .as_ref()
                .is_some_and(shared::supporters::MailRequest::is_queued),
            expected.contains("supporter-mail"),
            "{what}: supporter-mail's handler"
        );
    }
}

// ---------------------------------------------------------------------------------------
// IAM
// ---------------------------------------------------------------------------------------

/// A policy resource as the short form the `needed()` table uses.
fn resource_name(r: &Value) -> String {
    let d = describe(r);
    let content =
        "Sub:arn:${AWS::Partition}:s3:::${SiteName}-content-${AWS::AccountId}-${AWS::Region}";
    if let Some(rest) = d.strip_prefix(content) {
        return format!("content{rest}");
    }
    match d.as_str() {
        "GetAtt:SiteBucket.Arn" => "site".into(),
        "Sub:${SiteBucket.Arn}/*" => "site/*".into(),
        "GetAtt:RecordsTable.Arn" => "table".into(),
        "Sub:${RecordsTable.Arn}/index/gsi1" => "table/index/gsi1".into(),
        "Sub:arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*" => {
            "ses:identity/*".into()
        }
        other => {
            panic!("policy resource {other}: not one the test knows; add it to resource_name()")
        }
    }
}

fn granted(f: &Function) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let policies = get(f.props, &["Policies"])
        .and_then(|p| p.as_sequence())
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        // Only inline documents: SAM policy templates and managed policies would hide what
        // they grant from this test.
        let statements = get(policy, &["Statement"])
            .and_then(|st| st.as_sequence())
            .unwrap_or_else(|| panic!("{}: every policy must be an inline document", f.binary));
        for st in statements {
            assert_eq!(
                get(st, &["Effect"]).map(s).as_deref(),
                Some("Allow"),
                "{}",
                f.binary
            );
            let actions: Vec<String> = list(get(st, &["Action"]).unwrap())
                .into_iter()
                .map(s)
                .collect();
            let resources: Vec<String> = list(get(st, &["Resource"]).unwrap())
                .into_iter()
                .map(resource_name)
                .collect();
            for a in &actions {
                assert!(!a.contains('*'), "{}: wildcard action {a}", f.binary);
                if a.starts_with("ses:") {
                    // Mail only as the site's sender.
                    assert_eq!(
                        get(st, &["Condition", "StringEquals", "ses:FromAddress"])
                            .map(describe)
                            .as_deref(),
                        Some("Ref:SesSenderAddress"),
                        "{}: {a} without the ses:FromAddress condition",
                        f.binary
                    );
                }
                for r in &resources {
                    out.insert((a.clone(), r.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn every_permission_needed_is_granted_and_no_more() {
    let t = template();
    let needed = needed();
    for f in functions(&t) {
        let (reads, built) = start_up(&f.binary);
        let capable: BTreeSet<&str> = ADAPTERS
            .iter()
            .filter(|(adapter, _)| built.contains(adapter))
            .flat_map(|(_, actions)| actions.iter().copied())
            .collect();
        let want: BTreeSet<(String, String)> = needed
            .get(f.binary.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no entry in needed(): read its handler and add one",
                    f.binary
                )
            })
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect();
        for (a, _) in &want {
            assert!(
                capable.contains(a.as_str()),
                "{}: the table says it needs {a}, but main.rs builds no adapter that does that",
                f.binary
            );
        }
        let got = granted(&f);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(missing.is_empty(), "{}: not granted: {missing:?}", f.binary);
        assert!(
            extra.is_empty(),
            "{}: granted beyond what it needs: {extra:?}",
            f.binary
        );

        // Resources belong to stores the function is configured with.
        for (_, r) in &got {
            let var = match r.split('/').next().unwrap() {
                "content" => "CONTENT_BUCKET",
                "site" => "SITE_BUCKET",
                "table" => "TABLE_NAME",
                _ => continue,
            };
            assert!(
                reads.contains(var),
                "{}: granted on {r} but does not read {var}",
                f.binary
            );
            if r.starts_with("content/_state/") {
                assert!(
                    reads.contains("STATE_PREFIX"),
                    "{}: _state/ without STATE_PREFIX",
                    f.binary
                );
            }
        }
    }
    // The state prefix the policies name is the one the functions are given.
    assert_eq!(
        get(
            &t,
            &[
                "Globals",
                "Function",
                "Environment",
                "Variables",
                "STATE_PREFIX"
            ]
        )
        .map(s)
        .as_deref(),
        Some("_state/")
    );
}

// ---------------------------------------------------------------------------------------
// DynamoDB by key prefix: which partitions each function may touch
// ---------------------------------------------------------------------------------------

/// The partitions of a key family, as an IAM `StringLike` pattern: the key made with its
/// variable parts empty, then `*`.
fn under(prefix: impl Into<String>) -> String {
    format!("{}*", prefix.into())
}

/// (action, resource) → the partitions it may touch, from rows of (action, resource,
/// patterns); rows for the same action and resource add up.
fn by_action(
    rows: Vec<(&'static str, &'static str, Vec<&String>)>,
) -> BTreeMap<(&'static str, &'static str), BTreeSet<String>> {
    let mut m: BTreeMap<(&'static str, &'static str), BTreeSet<String>> = BTreeMap::new();
    for (action, resource, patterns) in rows {
        m.entry((action, resource))
            .or_default()
            .extend(patterns.into_iter().cloned());
    }
    m
}

/// For each function, the partitions each of its table actions may touch: the patterns of
/// the `dynamodb:LeadingKeys` condition on its policy statements, per (action, resource) as
/// in `needed()`, read from the same handlers and shared code. On `table/index/gsi1`,
/// LeadingKeys is the index's partition key, `gsi1pk`. Made with the key constructors of
/// `shared::keys`, so a key that changes shape changes here, and the template must follow.
///
/// The rate-limit scopes are the ones the handlers pass to `Guard::rate` and
/// `RateLimiter::check` (checked by `rate_scopes_are_the_ones_the_handlers_use`).
fn partitions() -> BTreeMap<&'static str, BTreeMap<(&'static str, &'static str), BTreeSet<String>>>
{
    use shared::comments::CommentStatus;
    use shared::keys;
    let post = under(keys::post_pk(""));
    let rate = |scope: &str| under(keys::rate(scope, "", 0).0);
    let (comment_rate, signup_rate, my_data_rate) = (
        rate("comment"),
        rate(signup::handler::FORM_NAME),
        rate("my-data"),
    );
    let (linkback_rate, source_rate) = (rate("linkback"), rate(keys::MENTION_SOURCE_SCOPE));
    let author = under(keys::author_pk(""));
    let body = under(keys::body_seen("").0);
    let modlink = under(keys::modlink_used("").0);
    let mention = under(keys::mention("").0);
    // One partition, named exactly.
    let verdicts = keys::spam_examples().0;
    let status: Vec<String> = [
        CommentStatus::Pending,
        CommentStatus::Held,
        CommentStatus::Approved,
        CommentStatus::Spam,
    ]
    .into_iter()
    .map(|s| keys::comments_by_status(s.as_str()))
    .collect();
    let held = keys::comments_by_status(CommentStatus::Held.as_str());
    let supporter = under(keys::supporter_pk(""));
    let token = under(keys::token_pk(""));
    let mails = under(keys::mails_sent("", 0).0);
    let request = under(keys::mail_request("", "").0);

    const GET: &str = "dynamodb:GetItem";
    const PUT: &str = "dynamodb:PutItem";
    const DELETE: &str = "dynamodb:DeleteItem";
    const UPDATE: &str = "dynamodb:UpdateItem";
    const QUERY: &str = "dynamodb:Query";
    const TABLE: &str = "table";
    const GSI1: &str = "table/index/gsi1";
    let mut m = BTreeMap::new();
    // Approved comments of each post it renders.
    m.insert("render", by_action(vec![(QUERY, TABLE, vec![&post])]));
    // A reply's parent, the pending comment, the post's comments for the form shown again;
    // the form's rate counter.
    m.insert(
        "comment-submit",
        by_action(vec![
            (GET, TABLE, vec![&post]),
            (PUT, TABLE, vec![&post]),
            (QUERY, TABLE, vec![&post]),
            (UPDATE, TABLE, vec![&comment_rate]),
        ]),
    );
    // The scored comment (read again before a held one is mailed, then put); the duplicate
    // rule's marker (read, written); the author's approvals (read only); the moderator's verdicts; a comment found by id
    // through the status index ({"rescore": id}, comments::find: every status).
    m.insert(
        "spam-verify",
        by_action(vec![
            (PUT, TABLE, vec![&post, &body]),
            (GET, TABLE, vec![&post, &body]),
            (QUERY, TABLE, vec![&verdicts, &author]),
            (QUERY, GSI1, status.iter().collect()),
        ]),
    );
    // A pingback already registered (read only); the queued mention; the rate counters per
    // client IP and per source domain.
    m.insert(
        "linkbacks",
        by_action(vec![
            (GET, TABLE, vec![&post]),
            (PUT, TABLE, vec![&mention]),
            (UPDATE, TABLE, vec![&linkback_rate, &source_rate]),
        ]),
    );
    // The mention as a comment (read, written, taken down); what verification found, on
    // the mention.
    m.insert(
        "linkback-verify",
        by_action(vec![
            (GET, TABLE, vec![&post]),
            (PUT, TABLE, vec![&post, &mention]),
            (DELETE, TABLE, vec![&post]),
        ]),
    );
    // The comment (read, new status, deleted); the link's marker (claimed, then used);
    // the author's approval (one item per comment); the verdict the filter learns from; the held comments
    // (comments::with_status(Held) on the index).
    m.insert(
        "moderate",
        by_action(vec![
            (GET, TABLE, vec![&post]),
            (PUT, TABLE, vec![&post, &modlink, &verdicts, &author]),
            (DELETE, TABLE, vec![&post]),
            (QUERY, GSI1, vec![&held]),
        ]),
    );
    // supporters::check_confirm_token / confirm / find_by_manage_token / stop_newsletter /
    // erase (supporter and token records), queue_mail (the request); the two forms' rate
    // counters.
    m.insert(
        "signup",
        by_action(vec![
            (GET, TABLE, vec![&supporter, &token]),
            (PUT, TABLE, vec![&supporter, &request]),
            (DELETE, TABLE, vec![&supporter, &token]),
            (UPDATE, TABLE, vec![&signup_rate, &my_data_rate]),
        ]),
    );
    // supporters::take_up_request (the request, read and decided on; the supporter and
    // the suppression, read; the day's allowance), prepare_mail (store_pending: the token
    // and the pending supporter, the replaced token deleted), finish_request.
    m.insert(
        "supporter-mail",
        by_action(vec![
            (GET, TABLE, vec![&request, &supporter]),
            (PUT, TABLE, vec![&request, &supporter, &token]),
            (DELETE, TABLE, vec![&request, &token]),
            (UPDATE, TABLE, vec![&mails]),
        ]),
    );
    m
}

/// IAM `StringLike`: `*` matches any run of characters (none included), `?` any one.
fn string_like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    go(&p, &v)
}

/// The partitions a function's policy lets each of its table actions touch: per (action,
/// resource), the union of the `dynamodb:LeadingKeys` patterns of the statements granting
/// it. A statement without the condition would reach every partition: `*`.
fn table_reach(f: &Function) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let policies = get(f.props, &["Policies"])
        .and_then(|p| p.as_sequence())
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        for st in get(policy, &["Statement"])
            .and_then(|st| st.as_sequence())
            .into_iter()
            .flatten()
        {
            let actions: Vec<String> = list(get(st, &["Action"]).unwrap())
                .into_iter()
                .map(s)
                .filter(|a| a.starts_with("dynamodb:"))
                .collect();
            if actions.is_empty() {
                continue;
            }
            let patterns: BTreeSet<String> = get(
                st,
                &[
                    "Condition",
                    "ForAllValues:StringLike",
                    "dynamodb:LeadingKeys",
                ],
            )
            .map(|p| list(p).into_iter().map(s).collect())
            .unwrap_or_else(|| ["*".to_string()].into());
            for r in list(get(st, &["Resource"]).unwrap()) {
                for a in &actions {
                    out.entry((a.clone(), resource_name(r)))
                        .or_default()
                        .extend(patterns.iter().cloned());
                }
            }
        }
    }
    out
}

/// Every statement of every function on the table or its index is limited by key prefix
/// (`ForAllValues:StringLike` on `dynamodb:LeadingKeys`, the form DynamoDB requires for
/// that key), to exactly the partitions the table above says the function uses, action by
/// action.
#[test]
fn table_access_is_limited_to_the_partitions_each_function_uses() {
    let t = template();
    let want_all = partitions();
    let needed = needed();
    for f in functions(&t) {
        let want = want_all
            .get(f.binary.as_str())
            .unwrap_or_else(|| panic!("{}: no entry in partitions(): add one", f.binary));
        // The same table actions as needed() grants.
        let actions: BTreeSet<(&str, &str)> = needed[f.binary.as_str()]
            .iter()
            .filter(|(a, _)| a.starts_with("dynamodb:"))
            .copied()
            .collect();
        assert_eq!(
            want.keys().copied().collect::<BTreeSet<_>>(),
            actions,
            "{}: partitions() and needed() name different table actions",
            f.binary
        );
        // Each statement on the table: the condition, in the one form, and nothing else.
        for policy in list(get(f.props, &["Policies"]).unwrap()) {
            for st in list(get(policy, &["Statement"]).unwrap()) {
                let sid = get(st, &["Sid"]).map(s).unwrap_or_default();
                let on_table = list(get(st, &["Action"]).unwrap())
                    .into_iter()
                    .any(|a| s(a).starts_with("dynamodb:"));
                if !on_table {
                    continue;
                }
                let condition = get(st, &["Condition"])
                    .and_then(Value::as_mapping)
                    .unwrap_or_else(|| {
                        panic!("{}.{sid}: table access without a condition", f.binary)
                    });
                let operators: Vec<String> = condition.keys().map(s).collect();
                assert_eq!(
                    operators,
                    ["ForAllValues:StringLike"],
                    "{}.{sid}: the condition is ForAllValues:StringLike on dynamodb:LeadingKeys",
                    f.binary
                );
                let leading = get(
                    st,
                    &[
                        "Condition",
                        "ForAllValues:StringLike",
                        "dynamodb:LeadingKeys",
                    ],
                )
                .and_then(Value::as_sequence)
                .unwrap_or_else(|| panic!("{}.{sid}: no dynamodb:LeadingKeys list", f.binary));
                assert!(!leading.is_empty(), "{}.{sid}", f.binary);
                // A pattern is one partition, or the partitions under a prefix that ends at
                // a separator (`RATE#signup#*` cannot reach `RATE#signup-x#…`).
                for p in leading.iter().map(s) {
                    let wild = p.matches(['*', '?']).count();
                    assert!(
                        wild == 0 || (wild == 1 && p.ends_with("#*")),
                        "{}.{sid}: pattern {p}: a key, or a prefix ending in #, then *",
                        f.binary
                    );
                }
            }
        }
        let got = table_reach(&f);
        let want: BTreeMap<(String, String), BTreeSet<String>> = want
            .iter()
            .map(|((a, r), p)| ((a.to_string(), r.to_string()), p.clone()))
            .collect();
        for (key, patterns) in &want {
            assert_eq!(
                got.get(key),
                Some(patterns),
                "{}: {} on {}: the partitions granted differ from the ones it uses",
                f.binary,
                key.0,
                key.1
            );
        }
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(extra.is_empty(), "{}: {extra:?}", f.binary);
    }
}

/// The records store, noting each access as the policy sees it: (IAM action, resource,
/// partition key), the key being `gsi1pk` on the index.
struct Noting {
    inner: std::sync::Arc<dyn shared::ports::ItemStore>,
    seen: std::sync::Mutex<BTreeSet<(String, String, String)>>,
}

impl Noting {
    fn note(&self, action: &str, resource: &str, key: &str) {
        self.seen.lock().unwrap().insert((
            format!("dynamodb:{action}"),
            resource.to_string(),
            key.to_string(),
        ));
    }
}

#[async_trait::async_trait]
impl shared::ports::ItemStore for Noting {
    async fn get(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<shared::ports::Item>, shared::ports::StoreError> {
        self.note("GetItem", "table", pk);
        self.inner.get(pk, sk).await
    }
    async fn put(
        &self,
        item: shared::ports::Item,
        condition: shared::ports::Condition,
    ) -> Result<bool, shared::ports::StoreError> {
        let pk = item.get("pk").and_then(Json::as_str).unwrap_or_default();
        self.note("PutItem", "table", pk);
        self.inner.put(item, condition).await
    }
    async fn delete(
        &self,
        pk: &str,
        sk: &str,
        condition: shared::ports::Condition,
    ) -> Result<Option<shared::ports::Item>, shared::ports::StoreError> {
        self.note("DeleteItem", "table", pk);
        self.inner.delete(pk, sk, condition).await
    }
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<shared::ports::Item>, shared::ports::StoreError> {
        self.note("Query", "table", pk);
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_gsi1(
        &self,
        gsi1pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<shared::ports::Item>, shared::ports::StoreError> {
        self.note("Query", "table/index/gsi1", gsi1pk);
        self.inner.query_gsi1(gsi1pk, sk_prefix).await
    }
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, shared::ports::StoreError> {
        self.note("UpdateItem", "table", pk);
        self.inner.increment(pk, sk, by, expires_at).await
    }
}

/// The policies above, in action: every function's main paths run on the local adapters
/// (the same handlers, through their entry points where there is one), each with a records
/// store that notes every access; each access must fall within what its policy grants for
/// that action (`partitions()`, held against the template above). A path the table misses
/// would be refused on AWS only (moto does not enforce IAM), so this is where it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_stays_within_each_functions_partitions() {
    use integration_tests::{
        apigw_request, body_text, copy_dir, form_body, sample_content, set_body,
    };
    use shared::adapters::captcha::{TestKeyVerifier, TEST_RESPONSE};
    use shared::adapters::local::LocalStores;
    use shared::comments::moderation::{self, Action};
    use shared::ports::{Clock, ItemChange, ItemStore, SystemClock};
    use shared::wiring::{Assembled, Parts};
    use std::sync::Arc;

    const POST: &str = "the-big-link-up";
    const TARGET: &str = "http://127.0.0.1:8080/posts/the-big-link-up/";
    const ADA: &str = "ada@example.net";
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    // This site approves nothing on the model's word alone, so the comment verified below
    // is held and its moderator mailed (the path that reads the post).
    let config = content.join("site.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str("\n[spam]\nspam_at = 0.8\napprove_below = 0.0\n");
    std::fs::write(&config, toml).unwrap();
    let stores = LocalStores::open(&content, &tmp.path().join("data")).unwrap();
    let parts = stores.assemble(Arc::new(TestKeyVerifier), Arc::new(SystemClock), 100);
    let records: Arc<dyn ItemStore> = Arc::new(stores.records.clone());
    let keys = parts.keys.clone();
    let now = || SystemClock.now();
    let mut noted: BTreeMap<&str, Arc<Noting>> = BTreeMap::new();
    let mut parts_of = |name: &'static str| -> Assembled {
        let n = noted
            .entry(name)
            .or_insert_with(|| {
                Arc::new(Noting {
                    inner: records.clone(),
                    seen: Default::default(),
                })
            })
            .clone();
        Assembled {
            records: n,
            ..parts.clone()
        }
    };
    // A sample request with REPLACE_TOKEN (query and form body) made `token`, and `body`'s
    // fields in place of the sample's when given.
    let request = |name: &str, token: &str, body: Option<&[(&str, &str)]>| {
        let enc = form_body(&[("t", token)]);
        let enc = enc.trim_start_matches("t=").to_string();
        apigw_request(name, |e| {
            let text = e.to_string().replace("REPLACE_TOKEN", &enc);
            *e = serde_json::from_str(&text).unwrap();
            if let Some(fields) = body {
                set_body(e, &form_body(fields));
            } else if e["body"].is_string() {
                use base64::Engine;
                let raw = e["body"].as_str().unwrap().to_string();
                let plain = if e["isBase64Encoded"].as_bool() == Some(true) {
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(raw)
                            .unwrap(),
                    )
                    .unwrap()
                } else {
                    raw
                };
                set_body(e, &plain.replace("REPLACE_TOKEN", &enc));
            }
        })
    };
    let pending_comments = || {
        let records = records.clone();
        async move {
            records
                .query(
                    &shared::keys::post_pk(POST),
                    shared::keys::COMMENT_SK_PREFIX,
                )
                .await
                .unwrap()
        }
    };

    // render: the daily full build (every post's approved comments).
    let builder = parts_of("render").builder().unwrap();
    render::handler::handle(
        &builder,
        integration_tests::event("schedule-daily-rebuild.json"),
    )
    .await
    .unwrap();

    // comment-submit: three comments, and a refused one (the form shown again).
    let submit = comment_submit::handler::Deps::build(&parts_of("comment-submit")).unwrap();
    let token = keys.forms.form_token(
        &format!("comment:{POST}"),
        now() - time::Duration::minutes(1),
    );
    for (i, body) in [
        "Creative learning beats pigeon-holed facts, over and over again.",
        "The libraries in our town have reading groups for every age.",
        "Drama in the school day kept my son coming to school.",
    ]
    .iter()
    .enumerate()
    {
        let email = format!("reader{i}@example.net");
        let fields = [
            ("name", "Lindsay Ibbotson"),
            ("email", email.as_str()),
            ("body", body),
            ("form_token", token.as_str()),
            ("contact_reference", ""),
            ("h-captcha-response", TEST_RESPONSE),
        ];
        let resp = comment_submit::handler::handle(
            &submit,
            request("apigw-comment-form.json", "", Some(&fields)),
        )
        .await;
        assert_eq!(resp.status(), 303, "{}", body_text(&resp));
    }
    let refused = [("name", ""), ("email", "x@example.net"), ("body", "hello")];
    let resp = comment_submit::handler::handle(
        &submit,
        request("apigw-comment-form.json", "", Some(&refused)),
    )
    .await;
    assert_eq!(resp.status(), 422, "{}", body_text(&resp));
    let items = pending_comments().await;
    assert_eq!(items.len(), 3);
    let comments: Vec<shared::comments::Comment> = items
        .iter()
        .map(|i| shared::comments::Comment::from_item(i).unwrap())
        .collect();

    // spam-verify: the first comment from the stream, then scored again on demand.
    let verify = spam_verify::handler::Deps::build(&parts_of("spam-verify")).unwrap();
    let change = ItemChange {
        old: None,
        new: Some(items[0].clone()),
    };
    spam_verify::handler::on_changes(&verify, &[change])
        .await
        .unwrap();
    spam_verify::handler::rescore(&verify, &comments[0].id)
        .await
        .unwrap();

    // moderate: approve one by its link (page, then action), delete another, the list of
    // held comments; then a reply to the approved one.
    let moderate = moderate::handler::Deps::build(&parts_of("moderate")).unwrap();
    for (comment, action) in [
        (&comments[1], Action::Approve),
        (&comments[2], Action::Delete),
    ] {
        let link = moderation::make_link(&keys.moderation, action, comment, now());
        let resp =
            moderate::handler::handle(&moderate, request("apigw-moderate-get.json", &link, None))
                .await;
        assert_eq!(resp.status(), 200, "{}", body_text(&resp));
        let resp =
            moderate::handler::handle(&moderate, request("apigw-moderate-post.json", &link, None))
                .await;
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{}",
            body_text(&resp)
        );
    }
    let queue = moderation::make_queue_link(&keys.moderation, now());
    let resp = moderate::handler::handle(
        &moderate,
        apigw_request("apigw-moderate-queue-get.json", |e| {
            e["queryStringParameters"] = serde_json::json!({ "token": queue });
            e["rawQueryString"] = form_body(&[("token", &queue)]).into();
        }),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let fields = [
        ("name", "Sam"),
        ("email", "sam@example.net"),
        ("body", "Agreed, and well put."),
        ("parent", comments[1].id.as_str()),
        ("form_token", token.as_str()),
        ("contact_reference", ""),
        ("h-captcha-response", TEST_RESPONSE),
    ];
    let resp = comment_submit::handler::handle(
        &submit,
        request("apigw-comment-form.json", "", Some(&fields)),
    )
    .await;
    assert_eq!(resp.status(), 303, "{}", body_text(&resp));

    // linkbacks: a Webmention and a pingback from a page that links to the post.
    let receive = linkbacks::handler::Deps::build(&parts_of("linkbacks")).unwrap();
    let sources = integration_tests::Sources::default();
    let page = format!(
        "<!doctype html><html><head><title>A post that links</title></head><body><article class=\"h-entry\"><h1 class=\"p-name\">A post that links</h1><div class=\"e-content\"><p>We went to <a href=\"{TARGET}\">the Big Link Up</a>, and it was good.</p></div></article></body></html>"
    );
    sources.set("/post", 200, &page);
    sources.set("/other", 200, &page);
    let port = sources.start().await.port();
    let source = format!("http://blog.example:{port}/post");
    let resp = linkbacks::handler::handle(
        &receive,
        request(
            "apigw-webmention.json",
            "",
            Some(&[("source", &source), ("target", TARGET)]),
        ),
    )
    .await;
    assert_eq!(resp.status(), 202, "{}", body_text(&resp));
    let other = format!("http://blog.example:{port}/other");
    let resp = linkbacks::handler::handle(
        &receive,
        apigw_request("apigw-pingback.json", |e| {
            set_body(
                e,
                &format!(
                    "<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params>\
                     <param><value><string>{other}</string></value></param>\
                     <param><value><string>{TARGET}</string></value></param></params></methodCall>"
                ),
            )
        }),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));

    // linkback-verify: the Webmention received (stored as a comment), then sent again
    // once the source is gone (taken down).
    let mut check = linkback_verify::handler::Deps::build(&parts_of("linkback-verify")).unwrap();
    check.access = shared::linkbacks::SourceAccess {
        resolver: Arc::new(shared::linkbacks::address::StaticResolver::new([(
            "blog.example",
            "127.0.0.1".parse().unwrap(),
        )])),
        loopback: true,
    };
    let (pk, sk) = shared::keys::mention(&shared::linkbacks::mention::mention_id(
        &keys.identity,
        &source,
        POST,
    ));
    for (code, outcome) in [(200u16, "Received"), (410, "TakenDown")] {
        if code != 200 {
            sources.set("/post", code, "gone");
            let resp = linkbacks::handler::handle(
                &receive,
                request(
                    "apigw-webmention.json",
                    "",
                    Some(&[("source", &source), ("target", TARGET)]),
                ),
            )
            .await;
            assert_eq!(resp.status(), 202, "{}", body_text(&resp));
        }
        let item = records.get(&pk, &sk).await.unwrap().expect("the mention");
        let out = linkback_verify::handler::on_changes(
            &check,
            &[ItemChange {
                old: None,
                new: Some(item),
            }],
        )
        .await
        .unwrap();
        assert!(format!("{:?}", out[0].1).starts_with(outcome), "{out:?}");
    }

    // signup: sign up; supporter-mail sends the link; confirm (page, then action); my data
    // by the manage link, sent; one-click unsubscribe; the manage page; erasure; the page
    // after.
    let sign = signup::Deps::build(&parts_of("signup")).unwrap();
    let sender = supporter_mail::handler::Deps::build(&parts_of("supporter-mail")).unwrap();
    let form = keys.forms.form_token(
        signup::handler::FORM_NAME,
        now() - time::Duration::minutes(1),
    );
    let fields = [
        ("name", "Ada Lovelace"),
        ("email", ADA),
        ("supporter_type", "individual"),
        ("organisation", ""),
        ("newsletter", "yes"),
        ("form_token", form.as_str()),
        ("contact_reference", ""),
        ("h-captcha-response", TEST_RESPONSE),
    ];
    let resp =
        signup::handler::handle(&sign, request("apigw-signup-post.json", "", Some(&fields))).await;
    assert!(resp.status().is_redirection(), "{}", body_text(&resp));
    let eh = shared::supporters::email_hash(&keys.identity, ADA);
    let send = |purpose: &'static str| {
        let (records, sender) = (records.clone(), &sender);
        let eh = eh.clone();
        async move {
            let (pk, sk) = shared::keys::mail_request(&eh, purpose);
            let item = records
                .get(&pk, &sk)
                .await
                .unwrap()
                .expect("a queued request");
            supporter_mail::handler::on_changes(
                sender,
                &[ItemChange {
                    old: None,
                    new: Some(item.clone()),
                }],
            )
            .await
            .unwrap();
            item
        }
    };
    let request_item = send("SIGNUP").await;
    let confirm = shared::supporters::MailRequest::from_item(&request_item)
        .unwrap()
        .confirm_token(&keys.supporters);
    for name in [
        "apigw-signup-confirm-get.json",
        "apigw-signup-confirm-post.json",
    ] {
        let resp = signup::handler::handle(&sign, request(name, &confirm, None)).await;
        assert!(resp.status().as_u16() < 400, "{name}: {}", body_text(&resp));
    }
    let supporter = shared::supporters::get_supporter(records.as_ref(), &eh)
        .await
        .unwrap()
        .expect("a supporter");
    assert_eq!(supporter.status, shared::supporters::Status::Confirmed);
    let manage = shared::supporters::manage_token(&keys.supporters, &supporter);
    let resp = signup::handler::handle(
        &sign,
        request("apigw-signup-my-data-post.json", &manage, None),
    )
    .await;
    assert!(resp.status().as_u16() < 400, "{}", body_text(&resp));
    send("MY-DATA").await;
    for name in [
        "apigw-unsubscribe-one-click.json",
        "apigw-unsubscribe-get.json",
        "apigw-signup-remove.json",
        "apigw-signup-done-get.json",
    ] {
        let resp = signup::handler::handle(&sign, request(name, &manage, None)).await;
        assert!(resp.status().as_u16() < 400, "{name}: {}", body_text(&resp));
    }
    assert!(shared::supporters::get_supporter(records.as_ref(), &eh)
        .await
        .unwrap()
        .is_none());

    // Every access within the policy's partitions for that action; and every grant used by
    // some access (by key family: `POST`, `RATE`...), but for two paths this run does not
    // take: a moderation link's used-marker taken back when acting fails, and the token of
    // a sign-up that a newer link replaces.
    let allowed = partitions();
    let family = |k: &str| k.split('#').next().unwrap_or(k).to_string();
    let unreached: BTreeSet<(&str, &str, &str, &str)> = BTreeSet::from([
        ("moderate", "dynamodb:DeleteItem", "table", "MODLINK"),
        ("supporter-mail", "dynamodb:DeleteItem", "table", "TOKEN"),
    ]);
    assert_eq!(
        noted.keys().copied().collect::<BTreeSet<_>>(),
        allowed.keys().copied().collect::<BTreeSet<_>>(),
        "every function ran"
    );
    for (name, n) in &noted {
        let seen = n.seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "{name}: no table access");
        for (action, resource, key) in &seen {
            let patterns = allowed[name]
                .get(&(action.as_str(), resource.as_str()))
                .unwrap_or_else(|| panic!("{name}: {action} on {resource} ({key}) is not granted"));
            assert!(
                patterns.iter().any(|p| string_like(p, key)),
                "{name}: {action} on {resource} with key {key}: outside {patterns:?}"
            );
        }
        let used: BTreeSet<(String, String, String)> = seen
            .iter()
            .map(|(a, r, k)| (a.clone(), r.clone(), family(k)))
            .collect();
        for ((action, resource), patterns) in &allowed[name] {
            for p in patterns {
                let grant = (action.to_string(), resource.to_string(), family(p));
                let expected_unused =
                    unreached.contains(&(*name, *action, *resource, grant.2.as_str()));
                assert_eq!(
                    !used.contains(&grant),
                    expected_unused,
                    "{name}: {action} on {resource} for {p}: used by this run: {}",
                    used.contains(&grant)
                );
            }
        }
        eprintln!(
            "{name}: {:?}",
            seen.iter()
                .map(|(a, r, k)| format!(
                    "{} {r} {}",
                    a.trim_start_matches("dynamodb:"),
                    k.split('#').next().unwrap_or(k)
                ))
                .collect::<BTreeSet<_>>()
        );
    }
}

/// Functions that may read and write the supporters' partitions: their names and addresses,
/// confirmation tokens, the mail requests and the mail allowance.
const SUPPORTER_FUNCTIONS: &[&str] = &["signup", "supporter-mail"];

/// The supporters' records are out of reach of every other function, and above all of the
/// ones that parse what strangers send (comments, linkbacks, the pages built from them): a
/// fault in a parser could then at worst touch comments. Each key the supporters' records
/// use (and the index listing confirmed supporters) is tried against every pattern of
/// those functions' table statements.
#[test]
fn functions_that_read_strangers_text_cannot_reach_the_supporters() {
    use shared::keys;
    let t = template();
    let fns = functions(&t);
    let h = "0f".repeat(32);
    let supporter_keys: Vec<(String, &str)> = vec![
        (keys::supporter_pk(&h), "table"),
        (keys::token_pk(&h), "table"),
        (keys::mail_request(&h, "SIGNUP").0, "table"),
        (keys::mail_request(&h, "MY-DATA").0, "table"),
        (keys::mails_sent(&h, 1_700_006_400).0, "table"),
        (keys::CONFIRMED_SUPPORTERS.to_string(), "table/index/gsi1"),
    ];
    let mut checked = BTreeSet::new();
    for f in &fns {
        if SUPPORTER_FUNCTIONS.contains(&f.binary.as_str()) {
            continue;
        }
        for ((action, resource), patterns) in table_reach(f) {
            for (key, on) in &supporter_keys {
                if *on != resource {
                    continue;
                }
                for p in &patterns {
                    assert!(
                        !string_like(p, key),
                        "{}: {action} on {resource} with LeadingKeys {p} reaches the supporters' {key}",
                        f.binary
                    );
                }
            }
        }
        checked.insert(f.binary.as_str());
    }
    for name in [
        "comment-submit",
        "spam-verify",
        "moderate",
        "linkbacks",
        "linkback-verify",
        "render",
    ] {
        assert!(checked.contains(name), "{name}: not checked");
    }
    // The matcher itself: it would have seen the supporters' keys.
    assert!(string_like("SUPPORTER#*", &keys::supporter_pk(&h)));
    assert!(string_like("*", &keys::token_pk(&h)));
    assert!(string_like("MAIL*", &keys::mails_sent(&h, 0).0));
    assert!(!string_like("MAILS#*", &keys::mail_request(&h, "SIGNUP").0));
    assert!(!string_like("COMMENTS#held", keys::CONFIRMED_SUPPORTERS));
    // The listing of confirmed supporters is the site owner's (the command line): no
    // function may query it.
    for f in &fns {
        for ((action, resource), patterns) in table_reach(f) {
            if resource == "table/index/gsi1" {
                assert!(
                    !patterns
                        .iter()
                        .any(|p| string_like(p, keys::CONFIRMED_SUPPORTERS)),
                    "{}: {action} reaches the confirmed supporters' listing",
                    f.binary
                );
            }
        }
    }
}

/// The rate-limit scopes `partitions()` names are exactly the ones the handlers pass to
/// `Guard::rate` and `RateLimiter::check`: a new or renamed scope would put its counters in
/// partitions the policy does not cover (and the function would fail on AWS only).
#[test]
fn rate_scopes_are_the_ones_the_handlers_use() {
    fn sources(dir: &std::path::Path, text: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, text);
            } else if p.extension().is_some_and(|x| x == "rs") {
                text.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::from([
        ("comment-submit", BTreeSet::from(["\"comment\""])),
        ("signup", BTreeSet::from(["FORM_NAME", "\"my-data\""])),
        (
            "linkbacks",
            BTreeSet::from(["\"linkback\"", "MENTION_SOURCE_SCOPE"]),
        ),
    ]);
    for (name, dir) in function_crates() {
        let mut text = String::new();
        sources(&dir.join("src"), &mut text);
        // The first argument of every `.rate(` and `.check(` call.
        let mut scopes = BTreeSet::new();
        for call in [".rate(", ".check("] {
            for (at, _) in text.match_indices(call) {
                let rest = &text[at + call.len()..];
                let end = rest.find([',', ')']).unwrap_or(rest.len());
                scopes.insert(rest[..end].trim().to_string());
            }
        }
        let want: BTreeSet<String> = expected
            .get(name.as_str())
            .into_iter()
            .flatten()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            scopes, want,
            "{name}: rate-limit scopes; update partitions() and the template's RATE# patterns"
        );
    }
    assert_eq!(signup::handler::FORM_NAME, "signup");
    assert_eq!(shared::keys::MENTION_SOURCE_SCOPE, "linkback-source");
}

// ---------------------------------------------------------------------------------------
// SES: who a function may mail
// ---------------------------------------------------------------------------------------

/// Functions that mail people other than the moderator: supporter-mail mails supporters at
/// the addresses they gave, so its recipients cannot be pinned.
const MAILS_THE_PUBLIC: &[&str] = &["supporter-mail"];

/// Every other function that may send mail sends it only to the moderator: its SES
/// statements pin `ses:Recipients` to the `ModeratorAddress` parameter (the address its
/// `MODERATOR_EMAIL` is set from), and require the key to be there (`Null`: a request
/// naming no recipient would otherwise pass `ForAllValues`).
#[test]
fn spam_verify_may_mail_only_the_moderator() {
    let t = template();
    let mut pinned = BTreeSet::new();
    for f in functions(&t) {
        let statements: Vec<&Value> = list(get(f.props, &["Policies"]).unwrap())
            .into_iter()
            .flat_map(|p| list(get(p, &["Statement"]).unwrap()))
            .filter(|st| {
                list(get(st, &["Action"]).unwrap())
                    .into_iter()
                    .any(|a| s(a).starts_with("ses:"))
            })
            .collect();
        if statements.is_empty() || MAILS_THE_PUBLIC.contains(&f.binary.as_str()) {
            continue;
        }
        assert_eq!(
            environment(&t, &f)
                .get("MODERATOR_EMAIL")
                .map(|v| describe(v)),
            Some("Ref:ModeratorAddress".to_string()),
            "{}: may send mail, but is no moderator's mailer",
            f.binary
        );
        for st in statements {
            let recipients: Vec<String> = get(
                st,
                &["Condition", "ForAllValues:StringEquals", "ses:Recipients"],
            )
            .map(|r| list(r).into_iter().map(describe).collect())
            .unwrap_or_default();
            assert_eq!(
                recipients,
                ["Ref:ModeratorAddress"],
                "{}: ses:Recipients is not pinned to the moderator",
                f.binary
            );
            assert_eq!(
                get(st, &["Condition", "Null", "ses:Recipients"])
                    .map(s)
                    .as_deref(),
                Some("false"),
                "{}: a request without recipients would pass ForAllValues",
                f.binary
            );
            assert_eq!(
                get(st, &["Condition", "StringEquals", "ses:FromAddress"])
                    .map(describe)
                    .as_deref(),
                Some("Ref:SesSenderAddress"),
                "{}",
                f.binary
            );
        }
        pinned.insert(f.binary.clone());
    }
    assert_eq!(
        pinned,
        BTreeSet::from(["spam-verify".to_string()]),
        "the functions that mail only the moderator"
    );
}

// ---------------------------------------------------------------------------------------
// Throttles per route
// ---------------------------------------------------------------------------------------

/// A `!Ref` to a Number parameter: its default.
fn number_default(t: &Value, v: &Value) -> f64 {
    let (tag, name) = tagged(v).expect("a throttle is a !Ref to a parameter");
    assert_eq!(tag, "Ref");
    let p = get(t, &["Parameters", &s(name)]).unwrap_or_else(|| panic!("no parameter {}", s(name)));
    assert_eq!(
        get(p, &["Type"]).map(s).as_deref(),
        Some("Number"),
        "{}",
        s(name)
    );
    let min: f64 = s(get(p, &["MinValue"]).expect("a MinValue"))
        .parse()
        .unwrap();
    assert!(min >= 1.0, "{}: a limit of 0 shuts the route", s(name));
    s(get(p, &["Default"]).expect("a default")).parse().unwrap()
}

/// Every route the functions declare has a throttle of its own (and no setting names a
/// route that does not exist: API Gateway refuses the stage), set from parameters; RFC 8058
/// one-click unsubscribe (the route of the sample a mail provider sends) has at least the
/// room of every other route, by default.
#[test]
fn every_route_has_its_own_throttle_and_unsubscribe_the_most_room() {
    let t = template();
    let routes: BTreeSet<String> = triggers(&functions(&t))
        .into_iter()
        .filter(|tr| tr.kind == "HttpApi")
        .map(|tr| {
            format!(
                "{} {}",
                s(get(tr.props, &["Method"]).unwrap()).to_ascii_uppercase(),
                s(get(tr.props, &["Path"]).unwrap())
            )
        })
        .collect();
    assert!(routes.len() > 10, "{routes:?}");
    let props = get(&t, &["Resources", "HttpApi", "Properties"]).unwrap();
    let settings = get(props, &["RouteSettings"])
        .and_then(Value::as_mapping)
        .expect("HttpApi RouteSettings");
    let keys: BTreeSet<String> = settings.keys().map(s).collect();
    let missing: Vec<_> = routes.difference(&keys).collect();
    let stale: Vec<_> = keys.difference(&routes).collect();
    assert!(missing.is_empty(), "routes without a throttle: {missing:?}");
    assert!(
        stale.is_empty(),
        "settings for routes that do not exist: {stale:?}"
    );

    let limits = |v: &Value| -> (f64, f64) {
        (
            number_default(&t, get(v, &["ThrottlingRateLimit"]).expect("a rate")),
            number_default(&t, get(v, &["ThrottlingBurstLimit"]).expect("a burst")),
        )
    };
    let one_click = integration_tests::event("apigw-unsubscribe-one-click.json");
    let unsubscribe = one_click["routeKey"].as_str().unwrap().to_string();
    let body = {
        use base64::Engine;
        let raw = one_click["body"].as_str().unwrap_or_default();
        match one_click["isBase64Encoded"].as_bool() {
            Some(true) => base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => raw.to_string(),
        }
    };
    assert!(
        body.contains("List-Unsubscribe=One-Click"),
        "the sample is a one-click unsubscribe: {body}"
    );
    let (rate, burst) = limits(settings.get(unsubscribe.as_str()).unwrap());
    let mut others: Vec<(String, (f64, f64))> = keys
        .iter()
        .filter(|k| **k != unsubscribe)
        .map(|k| (k.clone(), limits(settings.get(k.as_str()).unwrap())))
        .collect();
    others.push((
        "DefaultRouteSettings".into(),
        limits(get(props, &["DefaultRouteSettings"]).unwrap()),
    ));
    for (route, (r, b)) in &others {
        assert!(
            rate >= *r && burst >= *b,
            "{unsubscribe} ({rate}/s, burst {burst}) has less room than {route} ({r}/s, burst {b})"
        );
    }
}

/// Every template parameter is in docs/deploy.md's parameter list.
#[test]
fn every_parameter_is_documented() {
    let t = template();
    let doc = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let section = doc
        .split("### Template parameters")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("docs/deploy.md has a Template parameters section");
    // The first cell of each row names one parameter, or a few (`A`, `B`).
    let named: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split(", "))
        .filter_map(|n| n.strip_prefix('`')?.strip_suffix('`'))
        .collect();
    for (name, _) in get(&t, &["Parameters"]).unwrap().as_mapping().unwrap() {
        assert!(
            named.contains(s(name).as_str()),
            "docs/deploy.md: no row for parameter {}",
            s(name)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Operations: failure destinations, logs, alarms
// ---------------------------------------------------------------------------------------

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    get(t, &["Resources"])
        .unwrap()
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| get(r, &["Type"]).map(s).as_deref() == Some(ty))
        .map(|(k, r)| (s(k), r))
        .collect()
}

#[test]
fn event_driven_functions_have_failure_destinations_logs_and_alarms() {
    let t = template();
    let fns = functions(&t);
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let alarm_on = |metric: &str, dimension: &str| -> bool {
        alarms.iter().any(|(_, a)| {
            get(a, &["Properties", "MetricName"]).map(s).as_deref() == Some(metric)
                && get(a, &["Properties", "Dimensions"])
                    .and_then(|d| d.as_sequence())
                    .is_some_and(|d| {
                        d.iter()
                            .any(|d| get(d, &["Value"]).map(describe).as_deref() == Some(dimension))
                    })
        })
    };
    let mut queues = BTreeSet::new();
    for f in &fns {
        let kinds: BTreeSet<String> = triggers(std::slice::from_ref(f))
            .into_iter()
            .map(|t| t.kind)
            .collect();
        // Asynchronous sources (S3, EventBridge): EventInvokeConfig on-failure destination.
        if kinds.contains("S3") || kinds.contains("Schedule") {
            let dest = get(
                f.props,
                &["EventInvokeConfig", "DestinationConfig", "OnFailure"],
            )
            .unwrap_or_else(|| {
                panic!(
                    "{}: asynchronous triggers without an on-failure destination",
                    f.binary
                )
            });
            assert_eq!(get(dest, &["Type"]).map(s).as_deref(), Some("SQS"));
            queues.insert(describe(get(dest, &["Destination"]).unwrap()));
        }
        // Streams: on-failure destination, bounded retries, bisection, a filter.
        for tr in triggers(std::slice::from_ref(f))
            .into_iter()
            .filter(|t| t.kind == "DynamoDB")
        {
            let p = tr.props;
            let dest = get(p, &["DestinationConfig", "OnFailure"])
                .unwrap_or_else(|| panic!("{}.{}: no on-failure destination", f.binary, tr.name));
            assert_eq!(get(dest, &["Type"]).map(s).as_deref(), Some("SQS"));
            queues.insert(describe(get(dest, &["Destination"]).unwrap()));
            assert!(
                get(p, &["MaximumRetryAttempts"]).is_some(),
                "{}.{}: retries unbounded",
                f.binary,
                tr.name
            );
            assert_eq!(
                get(p, &["BisectBatchOnFunctionError"]),
                Some(&Value::Bool(true)),
                "{}.{}",
                f.binary,
                tr.name
            );
            assert!(
                get(p, &["FilterCriteria"]).is_some(),
                "{}.{}: no event filter",
                f.binary,
                tr.name
            );
        }
        // Logs: a log group of its own with retention.
        let group = get(f.props, &["LoggingConfig", "LogGroup"])
            .map(describe)
            .unwrap_or_else(|| panic!("{}: no LoggingConfig.LogGroup", f.binary));
        let group_id = group
            .strip_prefix("Ref:")
            .expect("LogGroup: !Ref <log group>");
        let lg = get(&t, &["Resources", group_id]).unwrap();
        assert_eq!(
            get(lg, &["Type"]).map(s).as_deref(),
            Some("AWS::Logs::LogGroup")
        );
        assert_eq!(
            get(lg, &["Properties", "RetentionInDays"])
                .map(describe)
                .as_deref(),
            Some("Ref:LogRetentionDays"),
            "{}",
            f.binary
        );
        assert_eq!(
            get(lg, &["Properties", "LogGroupName"]).map(describe),
            Some(format!("Sub:/aws/lambda/${{SiteName}}-{}", f.binary))
        );
        // Alarms: errors and throttles.
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarm_on(metric, &format!("Ref:{}", f.logical_id)),
                "{}: no {metric} alarm",
                f.binary
            );
        }
    }
    // Each failure queue has a depth alarm.
    for q in &queues {
        let id = q
            .strip_prefix("GetAtt:")
            .and_then(|q| q.strip_suffix(".Arn"))
            .expect("Destination: !GetAtt <queue>.Arn");
        assert!(
            alarm_on(
                "ApproximateNumberOfMessagesVisible",
                &format!("GetAtt:{id}.QueueName")
            ),
            "queue {id}: no depth alarm"
        );
    }
}

#[test]
fn http_api_is_throttled_and_cors_is_the_site_origin() {
    let t = template();
    let api = get(&t, &["Resources", "HttpApi"]).unwrap();
    assert_eq!(
        get(api, &["Type"]).map(s).as_deref(),
        Some("AWS::Serverless::HttpApi")
    );
    let p = get(api, &["Properties"]).unwrap();
    for k in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        assert!(get(p, &["DefaultRouteSettings", k]).is_some(), "no {k}");
    }
    let origins = get(p, &["CorsConfiguration", "AllowOrigins"])
        .and_then(|o| o.as_sequence())
        .unwrap();
    assert_eq!(origins.len(), 1, "one origin: the site");
    let text = format!("{:?}", origins[0]);
    assert!(!text.contains("\"*\""), "CORS must not allow every origin");
    assert!(
        text.contains("DomainName"),
        "the origin follows the site's domain: {text}"
    );

    let outputs = get(&t, &["Outputs"]).unwrap().as_mapping().unwrap();
    for k in [
        "ApiUrl",
        "SiteUrl",
        "ContentBucketName",
        "SiteBucketName",
        "TableName",
    ] {
        assert!(outputs.contains_key(k), "output {k}");
    }
}

// ---------------------------------------------------------------------------------------
// CloudFront Functions, run in node
// ---------------------------------------------------------------------------------------

/// A CloudFront function's code from the template, run in node on each event; the
/// function's results, as JSON.
fn run_cloudfront_function(resource: &str, events: &[Json]) -> Vec<Json> {
    let t = template();
    let code = get(&t, &["Resources", resource, "Properties", "FunctionCode"])
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{resource}: no inline FunctionCode"))
        .to_string();
    let script = format!(
        "{code}\nconst events = {};\nconsole.log(JSON.stringify(events.map(e => handler(e))));\n",
        serde_json::to_string(events).unwrap()
    );
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg(&script)
        .output()
        .expect("node runs (installed with npm for the browser checks)");
    assert!(
        out.status.success(),
        "{resource}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The viewer-request function sends WordPress's query addresses where the renderer
/// publishes their redirects (the same keys as `shared::site::redirects`), and appends
/// index.html as before; the viewer-response function turns a redirect object into a 301.
#[test]
fn cloudfront_functions_answer_old_addresses_with_301s() {
    let request = |uri: &str, qs: Json| serde_json::json!({"request": {"uri": uri, "querystring": qs, "headers": {}}});
    let cases: &[(&str, Json, &str)] = &[
        (
            "/",
            serde_json::json!({"p": {"value": "123"}}),
            "/_old/p/123/index.html",
        ),
        (
            "/",
            serde_json::json!({"page_id": {"value": "2"}, "x": {"value": "1"}}),
            "/_old/page_id/2/index.html",
        ),
        (
            "/",
            serde_json::json!({"feed": {"value": "rss2"}}),
            "/_old/feed/rss2/index.html",
        ),
        (
            "/",
            serde_json::json!({"p": {"value": "<script>"}}),
            "/index.html",
        ),
        (
            "/",
            serde_json::json!({"s": {"value": "search"}}),
            "/index.html",
        ),
        ("/", serde_json::json!({}), "/index.html"),
        (
            "/posts/a/",
            serde_json::json!({"p": {"value": "1"}}),
            "/posts/a/index.html",
        ),
        (
            "/2010/07/21/the-big-link-up",
            serde_json::json!({}),
            "/2010/07/21/the-big-link-up/index.html",
        ),
        ("/feed.xml", serde_json::json!({}), "/feed.xml"),
    ];
    let events: Vec<Json> = cases
        .iter()
        .map(|(u, q, _)| request(u, q.clone()))
        .collect();
    let results = run_cloudfront_function("IndexRewriteFunction", &events);
    for ((uri, qs, want), got) in cases.iter().zip(&results) {
        assert_eq!(got["uri"], *want, "{uri} {qs}");
        // The renderer publishes at the same key.
        if want.starts_with("/_old/") {
            let query = qs
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v["value"].as_str().unwrap()))
                .collect::<Vec<_>>()
                .join("&");
            assert_eq!(
                shared::site::redirects::key_for_request(uri, Some(&query))
                    .map(|k| format!("/{k}")),
                Some(want.to_string())
            );
        }
    }

    let response = |status: u16, headers: Json| serde_json::json!({"response": {"statusCode": status, "statusDescription": "OK", "headers": headers}});
    let results = run_cloudfront_function(
        "RedirectFunction",
        &[
            response(
                200,
                serde_json::json!({"x-amz-website-redirect-location": {"value": "/posts/the-big-link-up/"}, "content-type": {"value": "text/html"}}),
            ),
            response(
                200,
                serde_json::json!({"content-type": {"value": "text/html"}}),
            ),
            response(
                404,
                serde_json::json!({"x-amz-website-redirect-location": {"value": "/x/"}}),
            ),
        ],
    );
    assert_eq!(results[0]["statusCode"], 301);
    assert_eq!(
        results[0]["headers"]["location"]["value"],
        "/posts/the-big-link-up/"
    );
    assert!(results[0]["headers"]
        .get("x-amz-website-redirect-location")
        .is_none());
    assert_eq!(results[1]["statusCode"], 200);
    assert!(results[1]["headers"].get("location").is_none());
    assert_eq!(results[2]["statusCode"], 404);
}

// ---------------------------------------------------------------------------------------
// Browser security headers: CloudFront's policy against the code's one definition
// ---------------------------------------------------------------------------------------

/// CloudFront's response headers policy sends exactly the headers the form functions and
/// the local server send (`shared::http::security_headers`), on every cache behaviour of
/// the distribution, overriding whatever the bucket might send.
#[test]
fn cloudfront_sends_the_security_headers_the_code_defines() {
    use shared::http::security_headers::{self as sh, Origins};
    let t = template();
    let policies = resources_of_type(&t, "AWS::CloudFront::ResponseHeadersPolicy");
    assert_eq!(policies.len(), 1, "one response headers policy");
    let (policy_id, policy) = &policies[0];
    let config = get(
        policy,
        &[
            "Properties",
            "ResponseHeadersPolicyConfig",
            "SecurityHeadersConfig",
        ],
    )
    .expect("SecurityHeadersConfig");
    let flag = |v: &Value, k: &str| get(v, &[k]).and_then(Value::as_bool);

    // Every header the code sends is configured, and nothing else.
    let configured: BTreeSet<String> = config.as_mapping().unwrap().keys().map(s).collect();
    let header_of = |key: &str| match key {
        "StrictTransportSecurity" => "strict-transport-security",
        "ContentSecurityPolicy" => "content-security-policy",
        "ContentTypeOptions" => "x-content-type-options",
        "ReferrerPolicy" => "referrer-policy",
        "FrameOptions" => "x-frame-options",
        other => panic!("{other}: a header the code does not send"),
    };
    let sent: BTreeSet<&str> = sh::headers(Origins::default())
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let in_template: BTreeSet<&str> = configured.iter().map(|k| header_of(k)).collect();
    assert_eq!(in_template, sent);
    for key in &configured {
        let v = get(config, &[key.as_str()]).unwrap();
        assert_eq!(flag(v, "Override"), Some(true), "{key}: Override: true");
    }

    let hsts = get(config, &["StrictTransportSecurity"]).unwrap();
    let mut value = format!(
        "max-age={}",
        s(get(hsts, &["AccessControlMaxAgeSec"]).unwrap())
    );
    if flag(hsts, "IncludeSubdomains") == Some(true) {
        value.push_str("; includeSubDomains");
    }
    if flag(hsts, "Preload") == Some(true) {
        value.push_str("; preload");
    }
    assert_eq!(value, sh::STRICT_TRANSPORT_SECURITY);
    assert_eq!(
        get(config, &["ReferrerPolicy", "ReferrerPolicy"])
            .map(s)
            .as_deref(),
        Some(sh::REFERRER_POLICY)
    );
    assert_eq!(
        get(config, &["FrameOptions", "FrameOption"])
            .map(s)
            .as_deref(),
        Some(sh::FRAME_OPTIONS)
    );
    // CloudFront's ContentTypeOptions has one value, nosniff.
    assert_eq!(sh::CONTENT_TYPE_OPTIONS, "nosniff");

    // The CSP: the site's pages, whose forms post to the API. The API's own origin cannot
    // be named (see the template: a circular dependency), so the policy names the API
    // Gateway hosts of the stack's region, which the ApiUrl output is one of.
    let csp = get(config, &["ContentSecurityPolicy", "ContentSecurityPolicy"]).unwrap();
    let (tag, text) = tagged(csp).expect("the CSP is a !Sub");
    assert_eq!(tag, "Sub");
    let api_hosts = "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}";
    assert_eq!(
        s(text),
        sh::content_security_policy(Origins {
            site: None,
            api: Some(api_hosts),
        }),
        "the template's CSP differs from shared::http::security_headers"
    );
    let api_url = describe(get(&t, &["Outputs", "ApiUrl", "Value"]).unwrap());
    let host_pattern = api_hosts.trim_start_matches("https://*");
    assert!(
        api_url.starts_with("Sub:https://${HttpApi}") && api_url.ends_with(host_pattern),
        "ApiUrl ({api_url}) is one of the hosts form-action allows ({api_hosts})"
    );
    // CloudFront refuses a policy whose CSP is longer than 1783 characters.
    let longest = substitute(&s(text)).replace("${AWS::URLSuffix}", "amazonaws.com.cn");
    assert!(longest.len() <= 1783, "{} characters", longest.len());

    // Attached to every behaviour of every distribution.
    let distributions = resources_of_type(&t, "AWS::CloudFront::Distribution");
    assert!(!distributions.is_empty());
    for (id, d) in distributions {
        let dc = get(d, &["Properties", "DistributionConfig"]).unwrap();
        let mut behaviours = vec![get(dc, &["DefaultCacheBehavior"]).unwrap()];
        if let Some(more) = get(dc, &["CacheBehaviors"]) {
            behaviours.extend(list(more));
        }
        for b in behaviours {
            assert_eq!(
                get(b, &["ResponseHeadersPolicyId"]).map(describe),
                Some(format!("Ref:{policy_id}")),
                "{id}: a behaviour without the security headers policy"
            );
        }
    }
}
