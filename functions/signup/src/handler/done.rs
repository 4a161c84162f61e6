//! `GET /signup/done?m=<outcome>`: where a browser lands after a form that changed something
//! (POST/redirect/GET), so reloading the page shows it again instead of sending the form
//! again. Scripts (JSON) get the same words in the POST's answer.

use super::*;

/// What a sign-up form did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A sign-up or a request for one's data: "check your email" (the same whatever
    /// happened, so nobody learns whether an address is known).
    CheckYourEmail,
    DataSent,
    Confirmed {
        newsletter: bool,
    },
    Cancelled,
    /// The newsletter stopped; the page offers removal, so it carries the manage token.
    Unsubscribed,
    Removed,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Self::CheckYourEmail => "check-your-email",
            Self::DataSent => "data-sent",
            Self::Confirmed { newsletter: false } => "confirmed",
            Self::Confirmed { newsletter: true } => "confirmed-newsletter",
            Self::Cancelled => "cancelled",
            Self::Unsubscribed => "unsubscribed",
            Self::Removed => "removed",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::CheckYourEmail,
            Self::DataSent,
            Self::Confirmed { newsletter: false },
            Self::Confirmed { newsletter: true },
            Self::Cancelled,
            Self::Unsubscribed,
            Self::Removed,
        ]
        .into_iter()
        .find(|o| o.code() == code)
    }

    /// `status`: 200, but a script that made the change is answered with the POST's.
    pub(super) fn page(self, cfg: &SiteConfig, token: &str, status: u16) -> Reply {
        match self {
            Self::CheckYourEmail => Reply::message(
                status,
                self.code(),
                "Check your email",
                "We are sending a message to the address you gave. Open the link in it within \
                 48 hours to confirm your sign-up. If nothing arrives in a few minutes, look in \
                 your spam folder.",
            ),
            Self::DataSent => Reply::message(
                status,
                self.code(),
                "Check your email",
                "If that address belongs to a confirmed supporter, we are emailing it a copy of \
                 the details we hold. It should arrive within a few minutes.",
            ),
            Self::Confirmed { newsletter } => {
                let news = if newsletter {
                    " We will send you our e-newsletter about once a month; every issue has a \
                     link to stop it."
                } else {
                    ""
                };
                Reply::message(
                    status,
                    "confirmed",
                    "Thank you: you are signed up",
                    format!(
                        "Your sign-up to {} is confirmed. Thank you for your support.{news}",
                        cfg.title
                    ),
                )
                .button("get", cfg.base_url.clone(), "Back to the site", None)
            }
            Self::Cancelled => Reply::message(
                status,
                self.code(),
                "Your sign-up is cancelled",
                "We have deleted the sign-up request and will not email this address again.",
            ),
            Self::Unsubscribed => {
                let page = Reply::message(
                    status,
                    self.code(),
                    "You are unsubscribed",
                    "You will get no more newsletters from us. You are still listed as a \
                     supporter; if you want us to delete your details as well, press the button.",
                );
                if token.is_empty() {
                    page
                } else {
                    page.button(
                        "post",
                        format!("{}/signup/remove", cfg.api_url),
                        "Remove me entirely",
                        Some(token),
                    )
                }
            }
            Self::Removed => Reply::message(
                status,
                self.code(),
                "Your details have been removed",
                "We have deleted your name, address and choices. We keep only a scrambled, \
                 non-reversible fingerprint of the address so that we never email it again. If \
                 you want to sign up again one day, please contact us.",
            ),
        }
    }

    /// The page needs the manage token (its button acts with it).
    fn carries_token(self) -> bool {
        self == Self::Unsubscribed
    }
}

impl Cx<'_> {
    /// Answer a form that changed something: a browser is sent (303) to the outcome's page,
    /// a script gets it as JSON with `json_status`.
    pub(super) async fn finish(
        &self,
        outcome: Outcome,
        token: &str,
        json_status: u16,
    ) -> Flow<Reply> {
        let cfg = self.config().await?;
        if self.json {
            return Ok(outcome.page(&cfg, token, json_status));
        }
        let mut url = format!("{}/signup/done?m={}", cfg.api_url, outcome.code());
        if outcome.carries_token() && !token.is_empty() {
            url.push_str("&token=");
            url.extend(web::url_encode(token));
        }
        Ok(Reply::SeeOther(url))
    }

    /// The outcome's page, as the browser reloads it.
    pub(super) async fn done_page(&self, req: &Request) -> Flow<Reply> {
        let m = web::query_param(req, "m");
        let outcome = m.and_then(|m| Outcome::parse(&m)).ok_or_else(not_found)?;
        let cfg = self.config().await?;
        let token = web::query_param(req, "token").unwrap_or_default();
        Ok(outcome.page(&cfg, &token, 200))
    }
}
