//! `GET /signup/my-data` (a page with a button) and `POST /signup/my-data` (mail the
//! supporter's data to the confirmed address).

use super::*;

impl Cx<'_> {
    pub(super) async fn my_data_page(&self, req: &Request) -> Flow<Reply> {
        let token = token_of(req, None);
        let cfg = self.config().await?;
        Ok(match sup::read_manage_token(&self.deps.signer, &token) {
            None => self.bad_manage_link(),
            Some(_) => Reply::message(
                200,
                "my-data",
                "Get a copy of your details",
                "Press the button and we will email the details we hold about you to your \
                 confirmed address.",
            )
            .button(
                "post",
                format!("{}/signup/my-data", cfg.api_url),
                "Email me my details",
                Some(&token),
            ),
        })
    }

    /// By `token` (a manage link) or by `email` (with the honeypot, rate limit and captcha).
    /// The answer is the same whether or not the address is a supporter.
    pub(super) async fn my_data(&self, req: &Request) -> Flow<Reply> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let store = self.deps.records.as_ref();
        let supporter = if !token.is_empty() {
            match self.manage_lookup(&token).await? {
                ManageLookup::Forged => return Ok(self.bad_manage_link()),
                ManageLookup::Gone => None,
                ManageLookup::Found(s) => Some(*s),
            }
        } else {
            let form = form.unwrap_or_default();
            let email = match sup::validate_email(form.get("email")) {
                Ok(e) => e,
                Err(msg) if self.json => {
                    let value = json!({ "error": "invalid-form", "message": msg, "errors": { "email": msg } });
                    return Ok(Reply::Json(422, value));
                }
                Err(msg) => {
                    let heading = "Please check the address";
                    return Ok(Reply::message(422, "invalid-form", heading, msg));
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
            checks.await?;
            sup::confirmed_by_email(store, &self.deps.signer, &email).await?
        };
        if let Some(s) = supporter.filter(|s| s.status == Status::Confirmed) {
            let allowed =
                sup::take_mail_allowance(store, &s.email_hash, self.deps.clock.now()).await?;
            if allowed {
                let cfg = self.config().await?;
                let manage = sup::manage_token(&self.deps.signer, &s);
                self.send(sup::data_mail(&self.mail_site(&cfg), &s, &manage))
                    .await?;
                tracing::info!(email_hash = %s.email_hash, "data copy mailed");
            }
        }
        self.finish(Outcome::DataSent, "", 202).await
    }
}
