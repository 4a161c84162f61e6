//! `GET /unsubscribe` (the manage page), `POST /unsubscribe` (RFC 8058 one-click and
//! the page's button) and `POST /signup/remove` (erasure).

use super::*;

impl Cx<'_> {
    pub(super) async fn manage_page(&self, req: &Request) -> Response<Body> {
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
    pub(super) async fn unsubscribe(&self, req: &Request) -> Response<Body> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        // A mail client's RFC 8058 one-click POST is answered at once; a person's button
        // press is sent on to a page they can reload.
        let one_click = form
            .as_ref()
            .is_some_and(|f| f.get("List-Unsubscribe") == "One-Click");
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
                return self.done(Outcome::Cancelled, &token, one_click).await;
            }
            Ok(ManageLookup::Found(s)) => {
                match sup::stop_newsletter(store, &s, self.deps.clock.now()).await {
                    Err(e) => return self.unavailable(&e),
                    Ok(None) => self.not_on_list(),
                    Ok(Some(_)) => {
                        tracing::info!(email_hash = %s.email_hash, "newsletter stopped");
                        return self.done(Outcome::Unsubscribed, &token, one_click).await;
                    }
                }
            }
        };
        self.page(page).await
    }

    pub(super) async fn remove(&self, req: &Request) -> Response<Body> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let page = match self.manage_lookup(&token).await {
            Err(r) => return r,
            Ok(ManageLookup::Forged) => self.bad_manage_link(),
            // Erasing twice is not an error.
            Ok(ManageLookup::Gone) => return self.finish(Outcome::Removed, "", 200).await,
            Ok(ManageLookup::Found(s)) => {
                if let Err(e) = sup::erase(self.deps.records.as_ref(), &s).await {
                    return self.unavailable(&e);
                }
                tracing::info!(email_hash = %s.email_hash, "supporter erased");
                return self.finish(Outcome::Removed, "", 200).await;
            }
        };
        self.page(page).await
    }

    /// A one-click unsubscribe is answered with the page itself; anything else as every
    /// form that changed something.
    async fn done(&self, outcome: Outcome, token: &str, one_click: bool) -> Response<Body> {
        if one_click && !self.json {
            return match self.config().await {
                Ok(cfg) => self.page(outcome.page(&cfg, token)).await,
                Err(r) => r,
            };
        }
        self.finish(outcome, token, 200).await
    }
}
