//! `GET /unsubscribe` (the manage page), `POST /unsubscribe` (RFC 8058 one-click and
//! the page's button) and `POST /signup/remove` (erasure).

use super::*;

impl Cx<'_> {
    pub(super) async fn manage_page(&self, req: &Request) -> Flow<Reply> {
        let token = token_of(req, None);
        let cfg = self.config().await?;
        let url = |route: &str| format!("{}{route}", cfg.api_url);
        Ok(match self.manage_lookup(&token).await? {
            ManageLookup::Forged => self.bad_manage_link(),
            ManageLookup::Gone => self.not_on_list(),
            ManageLookup::Found(s) if s.status == Status::Pending => Reply::message(
                200,
                "manage",
                "Cancel this sign-up?",
                "This address has a sign-up that is not confirmed yet. Press the button to \
                 cancel it: we will delete it and not email this address again.",
            )
            .button(
                "post",
                url("/unsubscribe"),
                "Cancel the sign-up",
                Some(&token),
            ),
            ManageLookup::Found(s) if s.newsletter => Reply::message(
                200,
                "manage",
                "Stop the newsletter?",
                "Press the button and we will stop sending you the e-newsletter. You stay \
                 listed as a supporter; on the next page you can also ask us to remove your \
                 details entirely.",
            )
            .button(
                "post",
                url("/unsubscribe"),
                "Stop the newsletter",
                Some(&token),
            ),
            ManageLookup::Found(_) => Reply::message(
                200,
                "manage",
                "Remove your details?",
                "You do not receive our e-newsletter. Press the button to remove yourself \
                 from our list of supporters entirely: we will delete your name, address \
                 and choices.",
            )
            .button(
                "post",
                url("/signup/remove"),
                "Remove me entirely",
                Some(&token),
            ),
        })
    }

    /// One-click (RFC 8058: the token is in the URL, the body `List-Unsubscribe=One-Click`,
    /// possibly as multipart, which is not read) and the manage page's button.
    pub(super) async fn unsubscribe(&self, req: &Request) -> Flow<Reply> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        // A mail client's RFC 8058 one-click POST is answered at once; a person's button
        // press is sent on to a page they can reload.
        let one_click = form
            .as_ref()
            .is_some_and(|f| f.get("List-Unsubscribe") == "One-Click");
        let store = self.deps.records.as_ref();
        match self.manage_lookup(&token).await? {
            ManageLookup::Forged => Ok(self.bad_manage_link()),
            ManageLookup::Gone => Ok(self.not_on_list()),
            ManageLookup::Found(s) if s.status == Status::Pending => {
                sup::erase(store, &s).await?;
                tracing::info!(email_hash = %s.email_hash, "pending sign-up cancelled and suppressed");
                self.done(Outcome::Cancelled, &token, one_click).await
            }
            ManageLookup::Found(s) => {
                if sup::stop_newsletter(store, &s, self.deps.clock.now())
                    .await?
                    .is_none()
                {
                    return Ok(self.not_on_list());
                }
                tracing::info!(email_hash = %s.email_hash, "newsletter stopped");
                self.done(Outcome::Unsubscribed, &token, one_click).await
            }
        }
    }

    pub(super) async fn remove(&self, req: &Request) -> Flow<Reply> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        match self.manage_lookup(&token).await? {
            ManageLookup::Forged => return Ok(self.bad_manage_link()),
            // Erasing twice is not an error.
            ManageLookup::Gone => {}
            ManageLookup::Found(s) => {
                sup::erase(self.deps.records.as_ref(), &s).await?;
                tracing::info!(email_hash = %s.email_hash, "supporter erased");
            }
        }
        self.finish(Outcome::Removed, "", 200).await
    }

    /// A one-click unsubscribe is answered with the page itself; anything else as every
    /// form that changed something.
    async fn done(&self, outcome: Outcome, token: &str, one_click: bool) -> Flow<Reply> {
        if one_click && !self.json {
            return Ok(outcome.page(&self.config().await?, token, 200));
        }
        self.finish(outcome, token, 200).await
    }
}
