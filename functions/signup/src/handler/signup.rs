//! `POST /signup`: validate, guard, store pending, mail a confirmation link.

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
        // The same answer whatever happened above: nobody learns whether an address is known.
        self.finish(Outcome::CheckYourEmail, "", 202).await
    }
}
