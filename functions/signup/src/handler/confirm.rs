//! `GET /signup/confirm` (a page with a button: mail scanners follow links) and
//! `POST /signup/confirm`.

use super::*;

impl Cx<'_> {
    pub(super) fn token_problem(&self, p: TokenProblem, cfg: &SiteConfig) -> Page {
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
    pub(super) async fn confirm_page(&self, req: &Request) -> Response<Body> {
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
            // What is being confirmed, so nobody confirms details someone else typed.
            Ok(Ok(s)) => Page::new(
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
            .post_button(
                format!("{}/signup/confirm", cfg.api_url),
                "Confirm my sign-up",
                &token,
            ),
        };
        self.page(page).await
    }

    pub(super) async fn confirm(&self, req: &Request) -> Response<Body> {
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
                    let outcome = Outcome::Confirmed {
                        newsletter: s.newsletter,
                    };
                    return self.finish(outcome, "", 200).await;
                }
            };
        self.page(page).await
    }
}
