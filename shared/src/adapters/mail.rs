//! Mailers: SES (v2, raw messages) on AWS, `.eml` files in an outbox folder locally.

use std::path::PathBuf;

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use crate::ports::{MailError, Mailer, OutgoingMail};

pub struct SesMailer {
    client: super::aws::LazyClient<aws_sdk_sesv2::Client>,
}

impl SesMailer {
    pub fn new(client: impl Into<super::aws::LazyClient<aws_sdk_sesv2::Client>>) -> Self {
        Self {
            client: client.into(),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(mail.raw.clone()))
            .build()
            .map_err(|e| MailError(e.to_string()))?;
        self.client
            .send_email()
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| {
                MailError(format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                ))
            })?;
        Ok(())
    }
}

/// Writes each mail to `<dir>/<time>-<random>.eml`, where a developer can open it.
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The messages in the outbox, oldest first.
    pub fn messages(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
            .collect()
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        use rand::Rng;
        let now = time::OffsetDateTime::now_utc();
        let name = format!(
            "{:020}-{:08x}.eml",
            now.unix_timestamp_nanos(),
            rand::thread_rng().gen::<u32>()
        );
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        tokio::fs::write(self.dir.join(name), &mail.raw)
            .await
            .map_err(|e| MailError(e.to_string()))
    }
}
