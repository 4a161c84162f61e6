//! "Trusted author" is earned from a moderator: the verifier's own approvals never count,
//! one moderator approval is not enough, two are. Through the moderator's action
//! (`moderation::apply`, what the mail link, the list page and `site comments` call) and
//! the verifier's entry point, on the local adapters.

use integration_tests::{copy_dir, sample_content};
use shared::comments::moderation::{self, Action};
use shared::comments::{CommentInput, CommentStatus};
use shared::ports::ItemStore;
use site::local::LocalSite;

const POST: &str = "the-big-link-up";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_two_moderator_approvals_make_an_author_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    copy_dir(&sample_content(), &content);
    // This site lets the filter approve ordinary comments on its own.
    let toml = content.join("site.toml");
    let mut config = std::fs::read_to_string(&toml).unwrap();
    config.push_str("\n[spam]\nspam_at = 0.9\napprove_below = 0.6\n");
    std::fs::write(&toml, config).unwrap();
    let site = LocalSite::open(&content, &tmp.path().join("data")).unwrap();
    let store: &dyn ItemStore = &site.records;
    let (b, spam) = (&site.builder, &site.spam);
    // Stored pending, then scored through the verifier's entry point; its rules.
    let score = |body: &str| {
        let input = CommentInput {
            name: "Kofi Mensah".into(),
            email: "kofi@example.net".into(),
            website: None,
            body: body.into(),
            parent: None,
        };
        let c = shared::comments::new_pending(
            &site.keys.identity,
            POST,
            &input,
            b.clock.now(),
            "ip".into(),
        );
        async move {
            assert!(shared::comments::store_pending(store, &c).await.unwrap());
            let v = spam_verify::handler::verify_all(spam, vec![c.clone()])
                .await
                .unwrap();
            let scored = shared::comments::get(store, POST, &c.id)
                .await
                .unwrap()
                .unwrap();
            let trusted = scored.spam_rules.iter().any(|h| h.rule == "trusted-author");
            (scored, v[0].1, trusted)
        }
    };
    // All capitals: held for the wording (the doubt trust may soften).
    let shouting = |n: u32| format!("WE ALL SUPPORT THE LINK-UP IN SCHOOL NUMBER {n} TODAY");

    let (first, status, _) = score("Our primary school choir would love to join.").await;
    assert_eq!(status, CommentStatus::Approved, "{:?}", first.spam_rules);
    let (second, status, trusted) = score(&shouting(1)).await;
    assert_eq!(status, CommentStatus::Held, "{:?}", second.spam_rules);
    assert!(!trusted, "the verifier's own approval does not count");

    // One moderator approval, applied twice (a retry after a failure half-way, or two
    // moderators): it counts once, so not yet.
    for _ in 0..2 {
        moderation::apply(store, POST, &second.id, Action::Approve, b.clock.now())
            .await
            .unwrap();
    }
    let (third, status, trusted) = score(&shouting(2)).await;
    assert!(
        !trusted && status == CommentStatus::Held,
        "{:?}",
        third.spam_rules
    );

    // Two: the same doubt is now softened.
    moderation::apply(store, POST, &third.id, Action::Approve, b.clock.now())
        .await
        .unwrap();
    let (fourth, status, trusted) = score(&shouting(3)).await;
    assert!(trusted, "{:?}", fourth.spam_rules);
    assert_eq!(status, CommentStatus::Approved, "{:?}", fourth.spam_rules);

    // A table from before approvals were kept one per comment: its count still counts,
    // beside the approvals kept since.
    let author = "a-hash-from-an-older-table";
    let (pk, sk) = shared::keys::author_approval(author, "c1");
    for item in [
        serde_json::json!({"pk": pk, "sk": shared::keys::AUTHOR_APPROVAL_PREFIX, "count": 2}),
        serde_json::json!({"pk": pk, "sk": sk}),
    ] {
        store
            .put(
                item.as_object().cloned().unwrap(),
                shared::ports::Condition::Always,
            )
            .await
            .unwrap();
    }
    let count = |except| shared::comments::moderator_approvals(store, author, except);
    assert_eq!(count(None).await.unwrap(), 3);
    assert_eq!(
        count(Some("c1")).await.unwrap(),
        2,
        "the comment itself left out"
    );
}
