//! The spam filter measured on real labelled comments (part of the UCI YouTube Spam
//! Collection: T. C. Alberto, J. V. Lochter and T. A. Almeida, ICMLA 2015; CC BY 4.0), in
//! `../shared/spam-corpus/` beside the repository, through the `site spam` command and the
//! verifier's own scoring function.

use std::path::PathBuf;

use integration_tests::root;
use shared::comments::evaluation::{self, Labelled};
use shared::comments::filter::SpamSettings;
use shared::comments::spam::{classifier_text, Blocklist};

fn corpus(name: &str) -> PathBuf {
    root().join("../shared/spam-corpus").join(name)
}

/// The `site` binary `cargo build --workspace --bins` made, beside this test's executable.
fn site_command() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap()
        .join("site");
    assert!(
        bin.exists(),
        "run `cargo build --workspace --bins` first (tests/run.sh does)"
    );
    bin
}

const FILES: [&str; 3] = [
    "Youtube01-Psy.csv",
    "Youtube02-KatyPerry.csv",
    "Youtube03-LMFAO.csv",
];

/// `site spam evaluate --json` on the three files, each scored by a model trained on the
/// other two: the figures the README reports.
#[test]
fn evaluate_prints_leave_one_file_out_figures() {
    let out = std::process::Command::new(site_command())
        .args(["spam", "evaluate", "--json"])
        .args(FILES.iter().map(|f| corpus(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 1138);
    assert_eq!(v["leave_one_file_out"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    let f = |k: &str| v[k].as_f64().unwrap();
    assert!(f("spam_precision") >= 0.98, "{v}");
    assert!(f("approval_precision") >= 0.98, "{v}");
    assert!(f("decided_share") >= 0.3, "{v}");
    assert!(v["rules"]["statistical"]["fired"].as_u64().unwrap() > 0);

    // A file that is not the corpus's layout is refused with the reason.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "id,text\n1,hello\n").unwrap();
    let out = std::process::Command::new(site_command())
        .args(["spam", "evaluate"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no column AUTHOR"));
}

/// After a moderator's verdicts on 50 comments of a kind of spam it was not trained on
/// (another video's), the filter catches much more of that kind. Trained on one file; the
/// verdicts are the first 50 spam comments of another file, with the ham the moderator
/// approved meanwhile; measured on the rest of that file.
#[test]
fn fifty_verdicts_teach_a_new_kind_of_spam() {
    let read = |name: &str| site::spam_cmd::read_csv(&corpus(name)).unwrap();
    let (a, b) = (read(FILES[0]), read(FILES[2]));
    let cut = b
        .iter()
        .scan(0, |spam, r| {
            *spam += usize::from(r.spam);
            Some(*spam)
        })
        .position(|n| n == 50)
        .unwrap()
        + 1;
    let (verdicts, rest): (&[Labelled], &[Labelled]) = b.split_at(cut);
    let settings = SpamSettings::default();
    let before = evaluation::evaluate(
        rest,
        &evaluation::train(&a),
        &settings,
        &Blocklist::default(),
    );
    let mut taught = evaluation::train(&a);
    for v in verdicts {
        taught.learn_weighted(
            &classifier_text(&v.author, &v.body),
            v.spam,
            shared::comments::filter::VERDICT_WEIGHT,
        );
    }
    let after = evaluation::evaluate(rest, &taught, &settings, &Blocklist::default());
    println!("before: {before:?}\nafter: {after:?}");
    assert!(
        after.spam[1] >= before.spam[1] + 20,
        "spam caught: {} -> {}",
        before.spam[1],
        after.spam[1]
    );
    assert!(
        after.approved[1] <= before.approved[1],
        "no more spam goes live"
    );
    assert!(
        after.spam[0] <= before.spam[0] + 2,
        "readers are not sacrificed"
    );
}
