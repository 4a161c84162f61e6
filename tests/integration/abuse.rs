//! Denial of wallet through the comment form: a stream of invalid or excess posts must not
//! each cost a render with a strongly consistent query of every approved comment. On the
//! local adapters, counting the records store's queries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use integration_tests::{apigw_request, body_text, copy_dir, form_body, sample_content, set_body};
use shared::adapters::captcha::TestKeyVerifier;
use shared::adapters::local::LocalStores;
use shared::ports::{Condition, Item, ItemStore, StoreError, SystemClock};

/// The records store, counting the queries of a post's comments.
struct Counting {
    inner: Arc<dyn ItemStore>,
    comment_queries: AtomicUsize,
}

#[async_trait]
impl ItemStore for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<bool, StoreError> {
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, c: Condition) -> Result<Option<Item>, StoreError> {
        self.inner.delete(pk, sk, c).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        if pk.starts_with("POST#") {
            self.comment_queries.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_gsi1(&self, gsi1pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.inner.query_gsi1(gsi1pk, sk_prefix).await
    }
    async fn increment(&self, pk: &str, sk: &str, by: i64, exp: i64) -> Result<i64, StoreError> {
        self.inner.increment(pk, sk, by, exp).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_excess_posts_do_not_query_every_comment_each_time() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    let stores = LocalStores::open(&content, &tmp.path().join("data")).unwrap();
    let counting = Arc::new(Counting {
        inner: Arc::new(stores.records.clone()),
        comment_queries: AtomicUsize::new(0),
    });
    let mut parts = stores.assemble(Arc::new(TestKeyVerifier), Arc::new(SystemClock), 5);
    parts.records = counting.clone();
    let deps = comment_submit::handler::Deps::build(&parts).unwrap();
    // An empty name: invalid, no token needed.
    let invalid = || {
        let body = form_body(&[("name", ""), ("email", "x@example.net"), ("body", "hello")]);
        apigw_request("apigw-comment-form.json", |e| set_body(e, &body))
    };

    for i in 0..5 {
        let resp = comment_submit::handler::handle(&deps, invalid()).await;
        assert_eq!(resp.status(), 422, "post {i}: {}", body_text(&resp));
        assert!(body_text(&resp).contains("Please give your name."));
    }
    assert_eq!(
        counting.comment_queries.load(Ordering::SeqCst),
        1,
        "the form re-shown five times read the post's comments once"
    );
    // Past the rate limit (5 per ten minutes): refused before the fields are even checked,
    // the text kept, still no new query.
    let resp = comment_submit::handler::handle(&deps, invalid()).await;
    assert_eq!(resp.status(), 429, "{}", body_text(&resp));
    assert!(body_text(&resp).contains("too many submissions"));
    assert!(body_text(&resp).contains("x@example.net"), "text kept");
    assert_eq!(counting.comment_queries.load(Ordering::SeqCst), 1);
}
