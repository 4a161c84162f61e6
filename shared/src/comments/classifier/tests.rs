//! The classifier on small examples, and on random text (no input panics).

use super::*;

fn trained() -> Model {
    let spam = [
        "check out my channel and subscribe please",
        "visit http://cheap.example.com/win",
    ];
    let ham = [
        "this song is amazing",
        "love this video so much",
        "the dance at 2:19 lol",
    ];
    let ex = spam
        .iter()
        .map(|t| (t.to_string(), true))
        .chain(ham.iter().map(|t| (t.to_string(), false)));
    Model::train(
        &ex.chain([("subscribe to my channel for free gift cards".into(), true)])
            .collect::<Vec<_>>(),
    )
}

#[test]
fn scores_explains_learns_unlearns_merges() {
    let mut m = trained();
    assert_eq!(m, trained(), "training is deterministic");
    let (spam, ham) = (
        m.score("please subscribe to my channel"),
        m.score("amazing song, love it"),
    );
    assert!(spam.p_spam > 0.5 && ham.p_spam < 0.5, "{spam:?} {ham:?}");
    assert!(
        spam.strongest
            .iter()
            .any(|(w, x)| w == "subscribe" && *x > 0.0),
        "{spam:?}"
    );
    assert!(spam.strongest.iter().all(|(_, w)| *w > 0.0));
    let before = m.score("buy followers here").log_odds;
    m.learn_weighted("buy followers here cheap", true, 3);
    let after = m.score("buy followers here").log_odds;
    m.unlearn("buy followers here cheap", true);
    assert!(after > before && m.score("buy followers here").log_odds < after);
    assert_eq!(m.docs(), (3, 5));
    let (a, mut b) = (trained(), trained());
    b.merge_weighted(&a, 2).unwrap();
    let (sa, sb) = (
        a.score("subscribe now").log_odds,
        b.score("subscribe now").log_odds,
    );
    assert!(
        (sb - 3.0 * sa).abs() < 1e-3 * sa.abs().max(1.0),
        "{sa} {sb}"
    );
    assert!(b
        .merge(&Model::with_config(Features::default(), 1024))
        .is_err());
}

#[test]
fn serialisation_round_trip_is_exact_and_sparse() {
    let m = trained();
    let json = serde_json::to_string(&m).unwrap();
    assert!(
        json.len() < 100_000,
        "sparse form expected, got {} bytes",
        json.len()
    );
    let back: Model = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&back, back.score("subscribe now")),
        (&m, m.score("subscribe now"))
    );
}

#[test]
fn tokeniser_handles_html_entities_links_and_author() {
    let t =
        tokenise("I&#39;m new <a href=\"http://www.Foo.com/x\">here</a><br />see bar.net &amp; go");
    assert_eq!(t.words, ["im", "new", "here", "see", "go"]);
    for s in ["[link]", "[link foo.com]", "[link bar.net]"] {
        assert!(t.signals.contains(&s.to_string()), "{s}");
    }
    assert!(tokenise("CHECK MY CHANNEL NOW!!!")
        .signals
        .contains(&"[SHOUTING]".to_string()));
    let t = tokenise(&with_author("Free Gift-Cards", "hello"));
    assert_eq!(
        (t.author.join(" "), t.words.join(" ")),
        ("free gift cards".into(), "hello".into())
    );
    assert!(trained()
        .score(&with_author("Bob", "hi"))
        .strongest
        .iter()
        .all(|(w, _)| w != "bob"));
}

#[test]
fn never_panics_on_random_unicode() {
    let mut m = trained();
    m.features.char_ngrams = Some((1, 8));
    let pool: Vec<char> = "<>&;#x\"'/.:=ahref wwwcom!AZ09\u{1F}\u{301}é߷😀\u{200B}日本\0\u{10FFFF}"
        .chars()
        .collect();
    let mut seed: u64 = 7;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(seed % 40) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (seed >> 33) as u32;
            let any = char::from_u32(r % 0x11_0000).unwrap_or('?');
            s.push(if r.is_multiple_of(4) {
                any
            } else {
                pool[r as usize % pool.len()]
            });
        }
        let sc = m.score(&s);
        assert!(
            sc.p_spam.is_finite() && (0.0..=1.0).contains(&sc.p_spam),
            "{s:?}"
        );
        m.learn_weighted(&s, seed.is_multiple_of(2), 1);
    }
}
