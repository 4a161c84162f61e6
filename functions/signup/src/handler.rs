//! Routes (API Gateway HTTP API, or the local server at the same paths):
//!
//! | Route | What |
//! |---|---|
//! | `POST /signup` | the sign-up form (urlencoded or JSON): validate, guard, store pending, mail a link |
//! | `GET /signup/confirm?token=` | a page with a "Confirm" button; changes nothing (mail scanners follow links) |
//! | `POST /signup/confirm` | confirms (`token` in the form or the query) |
//! | `GET /unsubscribe?token=` | the manage page: stop the newsletter, or remove me entirely |
//! | `POST /unsubscribe?token=` | RFC 8058 one-click (`List-Unsubscribe=One-Click`) and the page's button: stop the newsletter at once (an unconfirmed sign-up is cancelled instead) |
//! | `POST /signup/remove` | erase the supporter, keep only the keyed hash |
//! | `GET /signup/my-data?token=` | a page with an "Email me my details" button |
//! | `POST /signup/my-data` | mail the supporter's data as JSON to the confirmed address (`token`, or `email` with the captcha) |
//!
//! Every route answers a page for browsers and JSON when the caller sends or asks for JSON.
//! Nothing here returns an error to the runtime: failures become responses.
//! Responses and logs never carry an address or an IP (only keyed hashes are logged); the
//! one exception is the sign-up form re-shown, with the visitor's own text, to the visitor.

use std::collections::{BTreeMap, HashMap};

use http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use shared::http::guard::Refusal;
use shared::http::web::{self, FormData};
use shared::mail::Mail;
use shared::ports::StoreError;
use shared::site::config::SiteConfig;
use shared::site::render::{FormState, HiddenField, Message, MessageAction};
use shared::supporters::{self as sup, ManageLookup, Registration, Status, TokenProblem};

pub use crate::Deps;

/// The form name the sign-up page's token is made for.
pub const FORM_NAME: &str = "signup";
/// Where message pages say they are (canonical URL, quote banner).
const PAGE_PATH: &str = "signup/";

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let path = route_path(&req);
    let cx = Cx {
        deps,
        json: web::wants_json(&req),
    };
    let method = req.method().clone();
    match (path.as_str(), method) {
        ("/signup", Method::POST) => cx.signup(&req).await,
        ("/signup/confirm", Method::GET) => cx.confirm_page(&req).await,
        ("/signup/confirm", Method::POST) => cx.confirm(&req).await,
        ("/unsubscribe", Method::GET) => cx.manage_page(&req).await,
        ("/unsubscribe", Method::POST) => cx.unsubscribe(&req).await,
        ("/signup/remove", Method::POST) => cx.remove(&req).await,
        ("/signup/my-data", Method::GET) => cx.my_data_page(&req).await,
        ("/signup/my-data", Method::POST) => cx.my_data(&req).await,
        ("/signup" | "/signup/remove", _) => cx.not_allowed("POST"),
        ("/signup/confirm" | "/unsubscribe" | "/signup/my-data", _) => cx.not_allowed("GET, POST"),
        _ => cx.error_text(404, "not-found", "There is nothing at this address."),
    }
}

/// The route's path: the raw path API Gateway matched (without a stage prefix), else the
/// URI's path (the local server); no trailing slash.
fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let p = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        "/".into()
    } else {
        p.to_string()
    }
}

/// The token of a link: from the form, else from the query string.
fn token_of(req: &Request, form: Option<&FormData>) -> String {
    form.map(|f| f.get("token").trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| web::query_param(req, "token"))
        .unwrap_or_default()
}

fn refusal_code(r: &Refusal) -> &'static str {
    match r {
        Refusal::Honeypot => "honeypot",
        Refusal::Token(_) => "form-token",
        Refusal::RateLimited => "rate-limited",
        Refusal::CaptchaRejected => "captcha",
        Refusal::CaptchaUnavailable => "captcha-unavailable",
        Refusal::Store(_) => "unavailable",
    }
}

struct Cx<'a> {
    deps: &'a Deps,
    json: bool,
}

/// A message page (or its JSON) ready to send.
struct Page {
    status: u16,
    code: &'static str,
    message: Message,
}

impl Page {
    fn new(status: u16, code: &'static str, heading: &str, body: impl Into<String>) -> Self {
        Page {
            status,
            code,
            message: Message {
                heading: heading.into(),
                body: body.into(),
                action: None,
            },
        }
    }

    /// A button that posts `token` to `url`.
    fn post_button(mut self, url: String, label: &str, token: &str) -> Self {
        self.message.action = Some(MessageAction {
            url,
            label: label.into(),
            method: "post",
            fields: vec![HiddenField {
                name: "token".into(),
                value: token.into(),
            }],
        });
        self
    }

    fn link(mut self, url: String, label: &str) -> Self {
        self.message.action = Some(MessageAction {
            url,
            label: label.into(),
            method: "get",
            fields: vec![],
        });
        self
    }
}

/// Stop handling a request with this response.
type Flow<T> = Result<T, Response<Body>>;

impl Cx<'_> {
    // ---- responses -------------------------------------------------------------------

    async fn page(&self, p: Page) -> Response<Body> {
        if self.json {
            let key = if p.status >= 400 { "error" } else { "status" };
            let mut v = json!({ key: p.code, "message": p.message.body });
            if let Some(a) = &p.message.action {
                v["action"] = json!({
                    "label": a.label,
                    "method": a.method.to_ascii_uppercase(),
                    "url": a.url,
                    "fields": a.fields.iter().map(|f| (f.name.clone(), Value::from(f.value.clone()))).collect::<serde_json::Map<_, _>>(),
                });
            }
            return web::json(p.status, &v);
        }
        match self.deps.pages.message(PAGE_PATH, &p.message).await {
            Ok(html) => web::html(p.status, html),
            Err(e) => {
                tracing::error!(error = %e, "message page could not be rendered");
                web::text(
                    p.status,
                    &format!("{}\n\n{}", p.message.heading, p.message.body),
                )
            }
        }
    }

    fn error_text(&self, status: u16, code: &str, msg: &str) -> Response<Body> {
        if self.json {
            web::json(status, &json!({ "error": code, "message": msg }))
        } else {
            web::text(status, msg)
        }
    }

    fn not_allowed(&self, allow: &'static str) -> Response<Body> {
        let mut r = self.error_text(
            405,
            "method-not-allowed",
            "That method is not allowed here.",
        );
        r.headers_mut()
            .insert("allow", http::HeaderValue::from_static(allow));
        r
    }

    fn unavailable(&self, e: &StoreError) -> Response<Body> {
        tracing::error!(error = %e, "records store failed");
        self.error_text(
            503,
            "unavailable",
            "We could not complete that just now; please try again in a few minutes.",
        )
    }

    /// The sign-up form again, errors beside fields, the visitor's text kept.
    async fn signup_form(
        &self,
        status: u16,
        code: &str,
        notice: &str,
        errors: BTreeMap<String, String>,
        values: HashMap<String, String>,
        sent_token: &str,
    ) -> Response<Body> {
        if self.json {
            return web::json(
                status,
                &json!({ "error": code, "message": notice, "errors": errors }),
            );
        }
        let token =
            self.deps
                .signer
                .token_for_reshown_form(FORM_NAME, sent_token, self.deps.clock.now());
        let state = FormState {
            errors: errors.into_iter().collect(),
            values,
            notice: Some(notice.to_string()),
        };
        match self.deps.pages.signup_with_form(&token, &state).await {
            Ok(html) => web::html(status, html),
            Err(e) => {
                tracing::error!(error = %e, "sign-up page could not be rendered");
                web::text(status, notice)
            }
        }
    }

    async fn config(&self) -> Flow<SiteConfig> {
        self.deps.pages.config().await.map_err(|e| {
            tracing::error!(error = %e, "site configuration could not be read");
            self.error_text(
                503,
                "unavailable",
                "The site is not available just now; please try again in a few minutes.",
            )
        })
    }

    async fn send(&self, mail: Mail) -> Result<(), Response<Body>> {
        let id = sup::new_token();
        let out = mail.to_outgoing(self.deps.clock.now(), &id);
        self.deps.mailer.send(&out).await.map_err(|e| {
            tracing::error!(error = %e, "mail not sent");
            self.error_text(
                503,
                "mail-unavailable",
                "We could not send you an email just now; please try again in a few minutes.",
            )
        })
    }

    fn mail_site<'c>(&'c self, cfg: &'c SiteConfig) -> sup::MailSite<'c> {
        sup::MailSite {
            title: &cfg.title,
            from: &self.deps.from_address,
            api_url: &cfg.api_url,
        }
    }

    async fn manage_lookup(&self, token: &str) -> Flow<ManageLookup> {
        sup::find_by_manage_token(self.deps.records.as_ref(), &self.deps.signer, token)
            .await
            .map_err(|e| self.unavailable(&e))
    }

    fn bad_manage_link(&self) -> Page {
        Page::new(
            400,
            "invalid-link",
            "This link does not work",
            "The link is not valid. Please use the link in the most recent email we sent you.",
        )
    }

    fn not_on_list(&self) -> Page {
        Page::new(
            200,
            "not-on-list",
            "You are not on our list",
            "We hold no details for this link: they have been removed already, or the sign-up \
             was never confirmed. We will not email you.",
        )
    }

    // ---- POST /signup -----------------------------------------------------------------

    async fn signup(&self, req: &Request) -> Response<Body> {
        match self.try_signup(req).await {
            Ok(r) | Err(r) => r,
        }
    }

    async fn try_signup(&self, req: &Request) -> Flow<Response<Body>> {
        let ip = web::client_ip(req);
        let form = match web::parse_form(req) {
            Ok(f) => f,
            Err(e) => {
                return Err(self
                    .signup_form(
                        e.status(),
                        "bad-request",
                        &e.to_string(),
                        BTreeMap::new(),
                        HashMap::new(),
                        "",
                    )
                    .await)
            }
        };
        let mut values: HashMap<String, String> =
            ["name", "email", "supporter_type", "organisation"]
                .iter()
                .map(|k| (k.to_string(), form.get(k).to_string()))
                .collect();
        if form.flag("newsletter") {
            values.insert("newsletter".into(), "yes".into());
        }
        let fields = sup::SignupFields {
            name: form.get("name"),
            email: form.get("email"),
            supporter_type: form.get("supporter_type"),
            organisation: form.get("organisation"),
            newsletter: form.flag("newsletter"),
        };
        let signup = match sup::validate(&fields) {
            Ok(s) => s,
            Err(errors) => {
                return Err(self
                    .signup_form(
                        422,
                        "invalid-form",
                        "Please correct the fields marked below and send the form again.",
                        errors,
                        values,
                        form.get("form_token"),
                    )
                    .await)
            }
        };
        let guard = &self.deps.guard;
        let checks = async {
            guard.honeypot(&form)?;
            guard.token(FORM_NAME, &form)?;
            guard.rate(FORM_NAME, ip.as_deref()).await?;
            guard.captcha(&form, ip.as_deref()).await
        };
        if let Err(refusal) = checks.await {
            let mut errors = BTreeMap::new();
            if refusal.field() == "captcha" {
                errors.insert("captcha".to_string(), refusal.to_string());
            }
            if let Refusal::Store(e) = &refusal {
                tracing::error!(error = %e, "rate limit store failed");
            }
            return Err(self
                .signup_form(
                    refusal.status(),
                    refusal_code(&refusal),
                    &refusal.to_string(),
                    errors,
                    values,
                    form.get("form_token"),
                )
                .await);
        }
        let cfg = self.config().await?;
        let ip_hash = guard.ip_hash(ip.as_deref());
        let now = self.deps.clock.now();
        let outcome = sup::register(
            self.deps.records.as_ref(),
            &self.deps.signer,
            now,
            &signup,
            &ip_hash,
        )
        .await;
        let site = self.mail_site(&cfg);
        let mail = match outcome {
            Err(e) => {
                let refusal = Refusal::Store(e);
                tracing::error!(error = %refusal, "sign-up not stored");
                return Err(self
                    .signup_form(
                        503,
                        "unavailable",
                        &refusal.to_string(),
                        BTreeMap::new(),
                        values,
                        form.get("form_token"),
                    )
                    .await);
            }
            Ok(Registration::Confirm { supporter, token }) => {
                let manage = sup::manage_token(&self.deps.signer, &supporter);
                tracing::info!(email_hash = %supporter.email_hash, ip_hash = %ip_hash, "sign-up pending, confirmation mailed");
                Some(sup::confirmation_mail(&site, &supporter, &token, &manage))
            }
            Ok(Registration::AlreadySignedUp { supporter }) => {
                let manage = sup::manage_token(&self.deps.signer, &supporter);
                tracing::info!(email_hash = %supporter.email_hash, ip_hash = %ip_hash, "repeat sign-up of a supporter");
                Some(sup::already_signed_up_mail(&site, &supporter, &manage))
            }
            Ok(Registration::Quiet) => {
                tracing::info!(ip_hash = %ip_hash, "sign-up for a suppressed or over-mailed address: no mail");
                None
            }
        };
        if let Some(mail) = mail {
            self.send(mail).await?;
        }
        // The same bytes whatever happened above: nobody learns whether an address is known.
        let status = if self.json { 202 } else { 200 };
        Ok(self
            .page(Page::new(
                status,
                "check-your-email",
                "Check your email",
                "We have sent a message to the address you gave. Open the link in it within 48 \
                 hours to confirm your sign-up. If nothing arrives in a few minutes, look in \
                 your spam folder.",
            ))
            .await)
    }

    // ---- confirm ----------------------------------------------------------------------

    fn token_problem(&self, p: TokenProblem, cfg: &SiteConfig) -> Page {
        let signup_url = cfg.url_for("signup/");
        match p {
            TokenProblem::Invalid => Page::new(
                400,
                "invalid-link",
                "This link does not work",
                "The confirmation link is not valid or has already been used. If you have not \
                 confirmed your sign-up yet, sign up again to get a new link.",
            ),
            TokenProblem::Expired => Page::new(
                410,
                "expired-link",
                "This link has expired",
                "Confirmation links work for 48 hours. Please sign up again to get a new one.",
            ),
        }
        .link(signup_url, "Sign up again")
    }

    /// GET: show the button. Reads only.
    async fn confirm_page(&self, req: &Request) -> Response<Body> {
        let token = token_of(req, None);
        let cfg = match self.config().await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let check =
            sup::check_confirm_token(self.deps.records.as_ref(), self.deps.clock.now(), &token)
                .await;
        let page = match check {
            Err(e) => return self.unavailable(&e),
            Ok(Err(p)) => self.token_problem(p, &cfg),
            Ok(Ok(_)) => Page::new(
                200,
                "confirm",
                "Confirm your sign-up",
                format!(
                    "Press the button to confirm that you want to sign up to {}.",
                    cfg.title
                ),
            )
            .post_button(
                format!("{}/signup/confirm", cfg.api_url),
                "Confirm my sign-up",
                &token,
            ),
        };
        self.page(page).await
    }

    async fn confirm(&self, req: &Request) -> Response<Body> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let cfg = match self.config().await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let page =
            match sup::confirm(self.deps.records.as_ref(), self.deps.clock.now(), &token).await {
                Err(e) => return self.unavailable(&e),
                Ok(Err(p)) => self.token_problem(p, &cfg),
                Ok(Ok(s)) => {
                    tracing::info!(email_hash = %s.email_hash, "sign-up confirmed");
                    let news = if s.newsletter {
                        " We will send you our e-newsletter about once a month; every issue has a \
                     link to stop it."
                    } else {
                        ""
                    };
                    Page::new(
                        200,
                        "confirmed",
                        "Thank you: you are signed up",
                        format!(
                            "Your sign-up to {} is confirmed. Thank you for your support.{news}",
                            cfg.title
                        ),
                    )
                    .link(cfg.base_url.clone(), "Back to the site")
                }
            };
        self.page(page).await
    }

    // ---- unsubscribe / manage ---------------------------------------------------------

    async fn manage_page(&self, req: &Request) -> Response<Body> {
        let token = token_of(req, None);
        let cfg = match self.config().await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let page = match self.manage_lookup(&token).await {
            Err(r) => return r,
            Ok(ManageLookup::Forged) => self.bad_manage_link(),
            Ok(ManageLookup::Gone) => self.not_on_list(),
            Ok(ManageLookup::Found(s)) if s.status == Status::Pending => Page::new(
                200,
                "manage",
                "Cancel this sign-up?",
                "This address has a sign-up that is not confirmed yet. Press the button to \
                 cancel it: we will delete it and not email this address again.",
            )
            .post_button(
                format!("{}/unsubscribe", cfg.api_url),
                "Cancel the sign-up",
                &token,
            ),
            Ok(ManageLookup::Found(s)) if s.newsletter => Page::new(
                200,
                "manage",
                "Stop the newsletter?",
                "Press the button and we will stop sending you the e-newsletter. You stay \
                 listed as a supporter; on the next page you can also ask us to remove your \
                 details entirely.",
            )
            .post_button(
                format!("{}/unsubscribe", cfg.api_url),
                "Stop the newsletter",
                &token,
            ),
            Ok(ManageLookup::Found(_)) => Page::new(
                200,
                "manage",
                "Remove your details?",
                "You do not receive our e-newsletter. Press the button to remove yourself from \
                 our list of supporters entirely: we will delete your name, address and \
                 choices.",
            )
            .post_button(
                format!("{}/signup/remove", cfg.api_url),
                "Remove me entirely",
                &token,
            ),
        };
        self.page(page).await
    }

    /// One-click (RFC 8058: the token is in the URL, the body `List-Unsubscribe=One-Click`,
    /// possibly as multipart, which is not read) and the manage page's button.
    async fn unsubscribe(&self, req: &Request) -> Response<Body> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let cfg = match self.config().await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let store = self.deps.records.as_ref();
        let page = match self.manage_lookup(&token).await {
            Err(r) => return r,
            Ok(ManageLookup::Forged) => self.bad_manage_link(),
            Ok(ManageLookup::Gone) => self.not_on_list(),
            Ok(ManageLookup::Found(s)) if s.status == Status::Pending => {
                if let Err(e) = sup::erase(store, &s).await {
                    return self.unavailable(&e);
                }
                tracing::info!(email_hash = %s.email_hash, "pending sign-up cancelled and suppressed");
                Page::new(
                    200,
                    "cancelled",
                    "Your sign-up is cancelled",
                    "We have deleted the sign-up request and will not email this address again.",
                )
            }
            Ok(ManageLookup::Found(s)) => {
                match sup::stop_newsletter(store, &s, self.deps.clock.now()).await {
                    Err(e) => return self.unavailable(&e),
                    Ok(None) => self.not_on_list(),
                    Ok(Some(_)) => {
                        tracing::info!(email_hash = %s.email_hash, "newsletter stopped");
                        Page::new(
                            200,
                            "unsubscribed",
                            "You are unsubscribed",
                            "You will get no more newsletters from us. You are still listed as \
                             a supporter; if you want us to delete your details as well, press \
                             the button.",
                        )
                        .post_button(
                            format!("{}/signup/remove", cfg.api_url),
                            "Remove me entirely",
                            &token,
                        )
                    }
                }
            }
        };
        self.page(page).await
    }

    async fn remove(&self, req: &Request) -> Response<Body> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let removed = Page::new(
            200,
            "removed",
            "Your details have been removed",
            "We have deleted your name, address and choices. We keep only a scrambled, \
             non-reversible fingerprint of the address so that we never email it again. If you \
             want to sign up again one day, please contact us.",
        );
        let page = match self.manage_lookup(&token).await {
            Err(r) => return r,
            Ok(ManageLookup::Forged) => self.bad_manage_link(),
            // Erasing twice is not an error.
            Ok(ManageLookup::Gone) => removed,
            Ok(ManageLookup::Found(s)) => {
                if let Err(e) = sup::erase(self.deps.records.as_ref(), &s).await {
                    return self.unavailable(&e);
                }
                tracing::info!(email_hash = %s.email_hash, "supporter erased");
                removed
            }
        };
        self.page(page).await
    }

    // ---- my data ----------------------------------------------------------------------

    async fn my_data_page(&self, req: &Request) -> Response<Body> {
        let token = token_of(req, None);
        let cfg = match self.config().await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let page = match sup::read_manage_token(&self.deps.signer, &token) {
            None => self.bad_manage_link(),
            Some(_) => Page::new(
                200,
                "my-data",
                "Get a copy of your details",
                "Press the button and we will email the details we hold about you to your \
                 confirmed address.",
            )
            .post_button(
                format!("{}/signup/my-data", cfg.api_url),
                "Email me my details",
                &token,
            ),
        };
        self.page(page).await
    }

    /// By `token` (a manage link) or by `email` (with the honeypot, rate limit and captcha).
    /// The answer is the same whether or not the address is a supporter.
    async fn my_data(&self, req: &Request) -> Response<Body> {
        match self.try_my_data(req).await {
            Ok(r) | Err(r) => r,
        }
    }

    async fn try_my_data(&self, req: &Request) -> Flow<Response<Body>> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let store = self.deps.records.as_ref();
        let supporter = if !token.is_empty() {
            match self.manage_lookup(&token).await? {
                ManageLookup::Forged => return Ok(self.page(self.bad_manage_link()).await),
                ManageLookup::Gone => None,
                ManageLookup::Found(s) => Some(*s),
            }
        } else {
            let form = form.unwrap_or_default();
            let email = match sup::validate_email(form.get("email")) {
                Ok(e) => e,
                Err(msg) => {
                    if self.json {
                        return Ok(web::json(
                            422,
                            &json!({ "error": "invalid-form", "message": msg, "errors": { "email": msg } }),
                        ));
                    }
                    return Ok(self
                        .page(Page::new(
                            422,
                            "invalid-form",
                            "Please check the address",
                            msg,
                        ))
                        .await);
                }
            };
            let ip = web::client_ip(req);
            let guard = &self.deps.guard;
            let checks = async {
                guard.honeypot(&form)?;
                guard.rate("my-data", ip.as_deref()).await?;
                guard.captcha(&form, ip.as_deref()).await
            };
            if let Err(refusal) = checks.await {
                return Ok(self
                    .page(Page::new(
                        refusal.status(),
                        refusal_code(&refusal),
                        "We could not accept that request",
                        refusal.to_string(),
                    ))
                    .await);
            }
            sup::confirmed_by_email(store, &self.deps.signer, &email)
                .await
                .map_err(|e| self.unavailable(&e))?
        };
        if let Some(s) = supporter.filter(|s| s.status == Status::Confirmed) {
            let allowed = sup::take_mail_allowance(store, &s.email_hash, self.deps.clock.now())
                .await
                .map_err(|e| self.unavailable(&e))?;
            if allowed {
                let cfg = self.config().await?;
                let manage = sup::manage_token(&self.deps.signer, &s);
                self.send(sup::data_mail(&self.mail_site(&cfg), &s, &manage))
                    .await?;
                tracing::info!(email_hash = %s.email_hash, "data copy mailed");
            }
        }
        let status = if self.json { 202 } else { 200 };
        Ok(self
            .page(Page::new(
                status,
                "data-sent",
                "Check your email",
                "If that address belongs to a confirmed supporter, we have emailed it a copy of \
                 the details we hold.",
            ))
            .await)
    }
}
