//! `GET /signup/my-data` (a page with a button) and `POST /signup/my-data` (mail the
//! supporter's data to the confirmed address).

use super::*;

impl Cx<'_> {
    pub(super) async fn my_data_page(&self, req: &Request) -> Response<Body> {
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
    pub(super) async fn my_data(&self, req: &Request) -> Response<Body> {
        match self.try_my_data(req).await {
            Ok(r) | Err(r) => r,
        }
    }

    pub(super) async fn try_my_data(&self, req: &Request) -> Flow<Response<Body>> {
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
            let cfg = self.config().await?;
            let guard = &self.deps.guard;
            let checks = async {
                guard.honeypot(&form)?;
                guard.rate("my-data", ip.as_deref()).await?;
                guard
                    .captcha(&form, ip.as_deref(), cfg.captcha_site())
                    .await
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
        Ok(self.finish(Outcome::DataSent, "", 202).await)
    }
}
