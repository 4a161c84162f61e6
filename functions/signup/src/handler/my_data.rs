//! `GET /signup/my-data` (a page with a button) and `POST /signup/my-data` (queue a copy of
//! the supporter's data for the sender, which mails it to the confirmed address).

use super::*;

impl Cx<'_> {
    pub(super) async fn my_data_page(&self, req: &Request) -> Flow<Reply> {
        let token = token_of(req, None);
        let cfg = self.config().await?;
        Ok(
            match sup::read_manage_token(&self.deps.supporters, &token) {
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
            },
        )
    }

    /// By `token` (a manage link) or by `email` (with the honeypot, rate limit and captcha).
    /// The answer, and the work done before it, are the same whether or not the address is
    /// a supporter: one request for the sender, which looks the address up and mails a
    /// confirmed supporter their data.
    pub(super) async fn my_data(&self, req: &Request) -> Flow<Reply> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let now = self.deps.clock.now();
        let request = if !token.is_empty() {
            // Only the signature is checked here (no record is read): a forged link is
            // refused, a genuine one queued whatever became of its supporter.
            match sup::read_manage_token(&self.deps.supporters, &token) {
                None => return Ok(self.bad_manage_link()),
                Some((email_hash, nonce)) => {
                    sup::MailRequest::my_data(email_hash, Some(nonce), now)
                }
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
            sup::MailRequest::my_data(sup::email_hash(&self.deps.identity, &email), None, now)
        };
        sup::queue_mail(self.deps.records.as_ref(), &request).await?;
        tracing::info!(email_hash = %request.email_hash, "data copy queued for the sender");
        self.finish(Outcome::DataSent, "", 202).await
    }
}
