//! `GET /signup/confirm` (a page with a button: mail scanners follow links) and
//! `POST /signup/confirm`.

use super::*;

impl Cx<'_> {
    pub(super) fn token_problem(&self, p: TokenProblem, cfg: &SiteConfig) -> Reply {
        let signup_url = cfg.url_for("signup/");
        match p {
            TokenProblem::Invalid => Reply::message(
                400,
                "invalid-link",
                "This link does not work",
                "The confirmation link is not valid or has already been used. If you have not \
                 confirmed your sign-up yet, sign up again to get a new link.",
            ),
            TokenProblem::Expired => Reply::message(
                410,
                "expired-link",
                "This link has expired",
                "Confirmation links work for 48 hours. Please sign up again to get a new one.",
            ),
        }
        .button("get", signup_url, "Sign up again", None)
    }

    /// GET: show the button. Reads only.
    pub(super) async fn confirm_page(&self, req: &Request) -> Flow<Reply> {
        let token = token_of(req, None);
        let cfg = self.config().await?;
        let check =
            sup::check_confirm_token(self.deps.records.as_ref(), self.deps.clock.now(), &token)
                .await?;
        Ok(match check {
            Err(p) => self.token_problem(p, &cfg),
            // What is being confirmed, so nobody confirms details someone else typed.
            Ok(s) => Reply::message(
                200,
                "confirm",
                "Confirm your sign-up",
                format!(
                    "Press the button to confirm that you want to sign up to {} as {}{}, {} \
                     the e-newsletter. If these are not the details you gave, do not press \
                     it: the sign-up lapses by itself in 48 hours.",
                    cfg.title,
                    s.name,
                    match (&s.supporter_type, &s.organisation) {
                        (sup::SupporterType::Organisation, Some(o)) => format!(" for {o}"),
                        _ => " (an individual)".into(),
                    },
                    if s.newsletter { "with" } else { "without" }
                ),
            )
            .button(
                "post",
                format!("{}/signup/confirm", cfg.api_url),
                "Confirm my sign-up",
                Some(&token),
            ),
        })
    }

    pub(super) async fn confirm(&self, req: &Request) -> Flow<Reply> {
        let form = web::parse_form(req).ok();
        let token = token_of(req, form.as_ref());
        let cfg = self.config().await?;
        match sup::confirm(self.deps.records.as_ref(), self.deps.clock.now(), &token).await? {
            Err(p) => Ok(self.token_problem(p, &cfg)),
            Ok(s) => {
                tracing::info!(email_hash = %s.email_hash, "sign-up confirmed");
                let outcome = Outcome::Confirmed {
                    newsletter: s.newsletter,
                };
                self.finish(outcome, "", 200).await
            }
        }
    }
}
