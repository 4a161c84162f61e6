//! The mails a supporter gets: confirmation, "already signed up", their data.

use crate::mail::Mail;

use super::*;

/// Where mails come from and point to.
#[derive(Debug, Clone)]
pub struct MailSite<'a> {
    pub title: &'a str,
    pub from: &'a str,
    /// Base of the form endpoints, no trailing slash.
    pub api_url: &'a str,
}

impl MailSite<'_> {
    pub fn confirm_url(&self, token: &str) -> String {
        format!("{}/signup/confirm?token={token}", self.api_url)
    }
    pub fn manage_url(&self, manage: &str) -> String {
        format!("{}/unsubscribe?token={manage}", self.api_url)
    }
    pub fn my_data_url(&self, manage: &str) -> String {
        format!("{}/signup/my-data?token={manage}", self.api_url)
    }
}

fn greeting(name: &str) -> String {
    match mail_name(name) {
        Some(n) => format!("Hello {n},"),
        None => "Hello,".into(),
    }
}

fn footer(site: &MailSite<'_>, manage: &str) -> String {
    format!(
        "\n\n--\n{title}\nTo stop our mails or remove your details: {url}\n",
        title = site.title,
        url = site.manage_url(manage)
    )
}

/// "Please confirm": the only free text in it is the person's own name, filtered by
/// [`mail_name`]. Organisation names and other typed text never appear in a mail.
pub fn confirmation_mail(site: &MailSite<'_>, s: &Supporter, token: &str, manage: &str) -> Mail {
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("Please confirm your sign-up to {}", site.title),
        text: format!(
            "{greeting}\n\nThank you for signing up to {title}. Please confirm that this is your \
             address by opening this link and pressing the button on the page:\n\n{url}\n\n\
             The link works once, for 48 hours. If you did not sign up, ignore this mail: \
             nothing happens unless the link is used, and we will delete the request.{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            url = site.confirm_url(token),
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}

/// Sent when someone signs up again with an address that is already confirmed.
pub fn already_signed_up_mail(site: &MailSite<'_>, s: &Supporter, manage: &str) -> Mail {
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("You are already signed up to {}", site.title),
        text: format!(
            "{greeting}\n\nSomeone (probably you) tried to sign up to {title} with this address. \
             You are already signed up, so nothing has changed.\n\n\
             To change your newsletter choice or remove your details: {manage_url}\n\
             To get a copy of the details we hold about you: {data_url}{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            manage_url = site.manage_url(manage),
            data_url = site.my_data_url(manage),
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}

/// A supporter's data, as JSON, to their own confirmed address.
pub fn data_mail(site: &MailSite<'_>, s: &Supporter, manage: &str) -> Mail {
    let data = serde_json::to_string_pretty(&data_export(s)).unwrap_or_default();
    Mail {
        from: site.from.into(),
        to: s.email.clone(),
        subject: format!("Your details held by {}", site.title),
        text: format!(
            "{greeting}\n\nYou asked for a copy of the details {title} holds about you. Here they \
             are, as JSON:\n\n{data}{footer}",
            greeting = greeting(&s.name),
            title = site.title,
            footer = footer(site, manage),
        ),
        unsubscribe_url: Some(site.manage_url(manage)),
    }
}
