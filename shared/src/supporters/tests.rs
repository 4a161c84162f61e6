//! Sign-up rules, tokens, mails and export, tested without I/O.

use crate::http::fields::*;
use crate::signing::{Keys, SupporterKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;

use super::*;
use time::macros::datetime;

fn fields<'a>(name: &'a str, email: &'a str, t: &'a str, org: &'a str) -> SignupFields<'a> {
    SignupFields {
        name,
        email,
        supporter_type: t,
        organisation: org,
        newsletter: true,
    }
}

fn keys() -> Keys {
    Keys::from_master(&[3u8; 32]).unwrap()
}

fn pending(now: OffsetDateTime) -> Supporter {
    let signup = validate(&fields("Ada Lovelace", "ada@example.org", "individual", "")).unwrap();
    Supporter::pending(
        email_hash(&keys().identity, &signup.email),
        &signup,
        "iphash".into(),
        now,
        token_hash("tok"),
        None,
    )
}

#[test]
fn validates_and_normalises_a_sign_up() {
    let s = validate(&fields(
        "  Ada \n  Lovelace ",
        "  Ada.Lovelace+news@Example.ORG ",
        "organisation",
        "  Analytical\tEngines  Ltd ",
    ))
    .unwrap();
    assert_eq!(s.name, "Ada Lovelace");
    assert_eq!(s.email, "ada.lovelace+news@example.org");
    assert_eq!(s.supporter_type, SupporterType::Organisation);
    assert_eq!(s.organisation.as_deref(), Some("Analytical Engines Ltd"));
    assert!(s.newsletter);
    // An individual's organisation field is dropped.
    let s = validate(&fields("Ada", "ada@example.org", "individual", "Something")).unwrap();
    assert_eq!(s.supporter_type, SupporterType::Individual);
    assert_eq!(s.organisation, None);
    // No choice at all (the radio group cleared) is reported beside the group.
    let e = validate(&fields("Ada", "ada@example.org", "", "")).unwrap_err();
    assert!(e["supporter_type"].contains("individual or for an organisation"));
}

#[test]
fn reports_every_problem_by_field() {
    let errors = validate(&fields("", "not-an-address", "company", "")).unwrap_err();
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["email", "name", "supporter_type"]
    );
    let errors = validate(&fields("Ada", "ada@example.org", "organisation", " ")).unwrap_err();
    assert_eq!(
        errors.get("organisation").map(String::as_str),
        Some("Please enter the name of your organisation.")
    );
    let long = "x".repeat(MAX_NAME + 1);
    assert!(validate(&fields(&long, "a@b.org", "", ""))
        .unwrap_err()
        .contains_key("name"));
    let long_org = "y".repeat(MAX_ORGANISATION + 1);
    assert!(
        validate(&fields("Ada", "a@b.org", "organisation", &long_org))
            .unwrap_err()
            .contains_key("organisation")
    );
    assert!(validate(&fields("Ada\u{0}", "a@b.org", "", ""))
        .unwrap_err()
        .contains_key("name"));
    assert!(validate(&fields("Ada\u{202E}", "a@b.org", "", ""))
        .unwrap_err()
        .contains_key("name"));
    // Exactly at the limits is fine.
    let name = "n".repeat(MAX_NAME);
    let org = "o".repeat(MAX_ORGANISATION);
    assert!(validate(&fields(&name, "a@b.org", "organisation", &org)).is_ok());
}

#[test]
fn email_addresses() {
    for ok in [
        "a@b.org",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "zoë@exämple.de",
    ] {
        assert!(validate_email(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "plain",
        "@example.org",
        "a@",
        "a@b",
        "a@@b.org",
        "a b@c.org",
        ".a@b.org",
        "a..b@c.org",
        "a@-b.org",
        "a@b..org",
        "a@1.2.3.4",
        "a<script>@b.org",
        "a@b.org\r\nBcc: c@d.org",
    ] {
        assert!(validate_email(bad).is_err(), "{bad}");
    }
    let local = "l".repeat(64);
    let domain = format!("{}.org", "d".repeat(63));
    assert!(validate_email(&format!("{local}@{domain}")).is_ok());
    let too_long = format!(
        "{local}@{}.{}.{}.org",
        "d".repeat(63),
        "e".repeat(63),
        "f".repeat(60)
    );
    assert!(too_long.len() > MAX_EMAIL);
    assert!(validate_email(&too_long).unwrap_err().contains("too long"));
    assert_eq!(
        validate_email(" Ada@EXAMPLE.org ").unwrap(),
        "ada@example.org"
    );
}

#[test]
fn mails_only_greet_by_plain_names() {
    assert_eq!(
        mail_name("Zoë O'Brien-Smith").as_deref(),
        Some("Zoë O'Brien-Smith")
    );
    assert_eq!(mail_name("J. R. Hartley").as_deref(), Some("J. R. Hartley"));
    assert_eq!(
        mail_name("  Ada\n Lovelace ").as_deref(),
        Some("Ada Lovelace")
    );
    for spam in [
        "Win a prize at http://spam.example",
        "Win a prize at spam.example",
        "visit www.spam.example",
        "Call 0800 123 456",
        "<b>Ada</b>",
        "ada@example.org",
        "Ada\r\nBcc: victim@example.org",
        "A very long name that goes on and on and on beyond forty",
        "...",
        "",
    ] {
        assert_eq!(mail_name(spam), None, "{spam}");
    }
}

#[test]
fn tokens_are_random_and_stored_as_hashes() {
    let a = new_token();
    let b = new_token();
    assert_ne!(a, b);
    assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    assert_eq!(token_hash(&a).len(), 64);
    assert_eq!(token_hash(&a), token_hash(&format!(" {a} ")));
    assert_ne!(token_hash(&a), token_hash(&b));
    assert!(!token_hash(&a).contains(&a));
}

#[test]
fn manage_tokens_are_signed_and_bound_to_the_nonce() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let s = pending(now);
    let t = manage_token(&keys().supporters, &s);
    assert_eq!(
        read_manage_token(&keys().supporters, &t),
        Some((s.email_hash.clone(), s.manage_nonce.clone()))
    );
    assert_eq!(
        read_manage_token(&SupporterKey::new(&[4u8; 32]).unwrap(), &t),
        None
    );
    // A form-token or other signature does not pass as a manage token.
    let other = keys().supporters.sign("moderate", b"x|y");
    assert_eq!(read_manage_token(&keys().supporters, &other), None);
    assert!(!t.contains(&s.email));
}

#[test]
fn pending_records_expire_and_confirm_once() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let p = pending(now);
    assert_eq!(p.status, Status::Pending);
    assert_eq!(
        p.expires_at,
        Some((now + time::Duration::hours(48)).unix_timestamp())
    );
    assert_eq!(p.consent.form_version, FORM_VERSION);
    assert!(!p.consent.newsletter_default);
    assert!(p.consent.newsletter);
    assert_eq!(p.consent.ip_hash, "iphash");
    let item = p.to_item().unwrap();
    assert!(!item.contains_key("gsi1pk"), "pending ones are not listed");
    assert_eq!(item["pk"], format!("SUPPORTER#{}", p.email_hash).as_str());
    assert_eq!(Supporter::from_item(&item).unwrap(), p);

    assert_eq!(
        p.confirmed(&token_hash("other"), now).unwrap_err(),
        TokenProblem::Invalid
    );
    assert_eq!(
        p.confirmed(&token_hash("tok"), now + time::Duration::hours(49))
            .unwrap_err(),
        TokenProblem::Expired
    );
    let c = p
        .confirmed(&token_hash("tok"), now + time::Duration::hours(47))
        .unwrap();
    assert_eq!(c.status, Status::Confirmed);
    assert_eq!((c.expires_at, c.token_hash.as_deref()), (None, None));
    let item = c.to_item().unwrap();
    assert!(!item.contains_key("expires_at"), "confirmed ones are kept");
    assert_eq!(item["gsi1pk"], CONFIRMED_INDEX);
    assert_eq!(
        c.confirmed(&token_hash("tok"), now + time::Duration::hours(48)),
        Ok(c.clone()),
        "confirming again with the same token (a retry after a failure half-way) changes nothing"
    );
    assert_eq!(
        c.confirmed(&token_hash("other"), now).unwrap_err(),
        TokenProblem::Invalid,
        "a confirmed record cannot be confirmed with another token"
    );
    assert!(!c.is_expired(now + time::Duration::days(400)));
}

#[test]
fn plans_follow_the_record() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let p = pending(now);
    let c = p.confirmed(&token_hash("tok"), now).unwrap();
    assert_eq!(plan_signup(None, false), SignupPlan::Create);
    assert_eq!(plan_signup(Some(c.clone()), true), SignupPlan::Suppressed);
    assert_eq!(plan_signup(None, true), SignupPlan::Suppressed);
    assert!(matches!(
        plan_signup(Some(p), false),
        SignupPlan::Replace { .. }
    ));
    assert!(matches!(
        plan_signup(Some(c), false),
        SignupPlan::AlreadyConfirmed { .. }
    ));
}

#[test]
fn mails_carry_links_and_no_typed_text_but_a_plain_name() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let signup = validate(&fields(
        "Win a prize at http://spam.example",
        "victim@example.org",
        "organisation",
        "<a href=\"http://evil.example\">Click</a>",
    ))
    .unwrap();
    let s = Supporter::pending("h".into(), &signup, "ip".into(), now, "x".into(), None);
    let site = MailSite {
        title: "Arts Alliance",
        from: "hello@example.org",
        api_url: "https://api.example.org",
    };
    for mail in [
        confirmation_mail(&site, &s, "TOKEN123", "MANAGE.SIG"),
        already_signed_up_mail(&site, &s, "MANAGE.SIG"),
    ] {
        assert_eq!(mail.to, "victim@example.org");
        assert!(mail.text.starts_with("Hello,\n"), "{}", mail.text);
        for injected in ["prize", "spam", "evil", "Click", "<a"] {
            assert!(!mail.text.contains(injected), "{injected} in {}", mail.text);
            assert!(!mail.subject.contains(injected));
        }
        assert_eq!(
            mail.unsubscribe_url.as_deref(),
            Some("https://api.example.org/unsubscribe?token=MANAGE.SIG")
        );
        assert!(mail
            .text
            .contains("https://api.example.org/unsubscribe?token=MANAGE.SIG"));
    }
    let m = confirmation_mail(&site, &s, "TOKEN123", "M");
    assert!(m
        .text
        .contains("https://api.example.org/signup/confirm?token=TOKEN123"));
    let m = already_signed_up_mail(&site, &s, "M");
    assert!(!m.text.contains("confirm?token"));
    assert!(m
        .text
        .contains("https://api.example.org/signup/my-data?token=M"));

    let mut named = s.clone();
    named.name = "Zoë O'Brien".into();
    assert!(confirmation_mail(&site, &named, "T", "M")
        .text
        .starts_with("Hello Zoë O'Brien,\n"));
}

#[test]
fn data_export_holds_everything_kept() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let c = pending(now).confirmed(&token_hash("tok"), now).unwrap();
    let v = data_export(&c);
    assert_eq!(v["email"], "ada@example.org");
    assert_eq!(v["status"], "confirmed");
    assert_eq!(v["consent"]["form_version"], FORM_VERSION);
    assert_eq!(v["consent"]["ip_address_hash"], "iphash");
    assert_eq!(
        v["consent"]["offered"].as_array().unwrap().len(),
        OFFERED.len()
    );
    let site = MailSite {
        title: "T",
        from: "f@example.org",
        api_url: "https://api.example.org",
    };
    let mail = data_mail(&site, &c, "M");
    let json_start = mail.text.find('{').unwrap();
    let json_end = mail.text.rfind('}').unwrap();
    let back: Value = serde_json::from_str(&mail.text[json_start..=json_end]).unwrap();
    assert_eq!(back, v);
}

#[test]
fn csv_export_filters_and_quotes() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let ada = pending(now).confirmed(&token_hash("tok"), now).unwrap();
    let mut org = ada.clone();
    org.name = "Bob \"the\" Builder".into();
    org.email = "bob@example.org".into();
    org.supporter_type = SupporterType::Organisation;
    org.organisation = Some("=HYPERLINK(\"http://x\"), Ltd".into());
    org.newsletter = false;
    let mut still_pending = pending(now);
    still_pending.email = "pending@example.org".into();
    let all = [ada.clone(), org.clone(), still_pending];

    let csv = to_csv(&all, &ExportFilter::default());
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 4, "header, two confirmed, final empty: {csv}");
    assert!(lines[1].starts_with("Ada Lovelace,ada@example.org,individual,,yes,"));
    assert!(
        lines[2].starts_with(
            "\"Bob \"\"the\"\" Builder\",bob@example.org,organisation,\"'=HYPERLINK(\"\"http://x\"\"), Ltd\",no,"
        ),
        "{}",
        lines[2]
    );
    assert!(!csv.contains("pending@example.org"));

    let orgs = to_csv(
        &all,
        &ExportFilter {
            supporter_type: Some(SupporterType::Organisation),
            newsletter: None,
        },
    );
    assert!(orgs.contains("bob@example.org") && !orgs.contains("ada@example.org"));
    let news = to_csv(
        &all,
        &ExportFilter {
            supporter_type: None,
            newsletter: Some(true),
        },
    );
    assert!(news.contains("ada@example.org") && !news.contains("bob@example.org"));
    let none = to_csv(
        &all,
        &ExportFilter {
            supporter_type: Some(SupporterType::Organisation),
            newsletter: Some(true),
        },
    );
    assert_eq!(none, format!("{CSV_HEADER}\r\n"));
}

#[test]
fn mail_requests_are_one_record_per_address_and_purpose() {
    let now = datetime!(2026-11-20 10:00 UTC);
    let signup = validate(&fields("Ada Lovelace", "Ada@Example.org", "individual", "")).unwrap();
    let r = MailRequest::signup(&keys().identity, &signup, "iphash", now);
    let item = r.to_item().unwrap();
    assert_eq!(
        (
            item["pk"].as_str(),
            item["sk"].as_str(),
            item["type"].as_str()
        ),
        (
            Some(
                format!(
                    "MAILREQ#{}",
                    email_hash(&keys().identity, "ada@example.org")
                )
                .as_str()
            ),
            Some("SIGNUP"),
            Some("mail-request")
        )
    );
    assert!(MailRequest::is_queued(&item));
    assert_eq!(MailRequest::from_item(&item).unwrap(), r);
    assert_eq!(r.expires_at, (now + REQUEST_TTL).unix_timestamp());
    // A later request for the address is another request (the same key, another id), with
    // another link; the same request always derives the same link.
    let again = MailRequest::signup(&keys().identity, &signup, "iphash", now);
    assert_eq!(again.key(), r.key());
    assert_ne!(again.id, r.id);
    assert_ne!(
        again.confirm_token(&keys().supporters),
        r.confirm_token(&keys().supporters)
    );
    assert_eq!(
        r.confirm_token(&keys().supporters),
        r.confirm_token(&keys().supporters)
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(r.confirm_token(&keys().supporters))
            .unwrap()
            .len(),
        32
    );
    // My data keeps no address, only its hash (and a link's nonce).
    let d = MailRequest::my_data("h".into(), Some("nonce".into()), now)
        .to_item()
        .unwrap();
    assert_eq!(d["sk"], "MY-DATA");
    assert!(!serde_json::to_string(&d).unwrap().contains('@'));
    // A decided request is not the stream filter's.
    let mut decided = item.clone();
    decided.insert("status".into(), REQUEST_DECIDED.into());
    assert!(!MailRequest::is_queued(&decided));
    // A sign-up request without its sign-up is malformed.
    let mut broken = item;
    broken.remove("signup");
    assert!(MailRequest::from_item(&broken).is_err());
}
