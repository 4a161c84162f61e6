//! `POST /signup`: validate, guard, queue the sign-up for the sender (which stores it pending
//! and mails the confirmation link), answer.

use super::*;

impl Cx<'_> {
    pub(super) async fn signup(&self, req: &Request) -> Flow<Reply> {
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
        let cfg = self.config().await?;
        let guard = &self.deps.guard;
        let checks = async {
            guard.honeypot(&form)?;
            guard.token(FORM_NAME, &form)?;
            guard.rate(FORM_NAME, ip.as_deref()).await?;
            guard
                .captcha(&form, ip.as_deref(), cfg.captcha_site())
                .await
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
                    refusal.code(),
                    &refusal.to_string(),
                    errors,
                    values,
                    form.get("form_token"),
                )
                .await);
        }
        let ip_hash = guard.ip_hash(ip.as_deref());
        // One write, the same for every address: what happens next (a confirmation, an
        // "already signed up", or nothing for an erased address) is the sender's to decide,
        // away from this request.
        let request = sup::MailRequest::signup(
            &self.deps.identity,
            &signup,
            &ip_hash,
            self.deps.clock.now(),
        );
        if let Err(e) = sup::queue_mail(self.deps.records.as_ref(), &request).await {
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
        tracing::info!(email_hash = %request.email_hash, ip_hash = %ip_hash, "sign-up queued for the sender");
        // The same answer whatever happened above: nobody learns whether an address is known.
        self.finish(Outcome::CheckYourEmail, "", 202).await
    }
}
