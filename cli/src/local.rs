//! The embedded deployment: the stores of [`shared::adapters::local`], every function built
//! on them exactly as on AWS, and the local twin of the stream triggers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared::adapters::captcha::TestKeyVerifier;
use shared::adapters::local::LocalStores;
pub use shared::adapters::local::{LocalError, LOCAL_MAIL_FROM, LOCAL_MODERATOR};
use shared::adapters::mail::OutboxMailer;
use shared::adapters::{FjallItemStore, FsBlobStore, ItemChange};
use shared::ports::{CaptchaVerifier, Clock, ItemStore, SystemClock};
use shared::site::build::Builder;
use shared::wiring::Parts;
use tokio::sync::broadcast::error::RecvError;

/// Settings for a local run.
#[derive(Clone)]
pub struct LocalOptions {
    /// Form submissions per IP per ten minutes; 0 turns the limit off.
    pub rate_limit: u32,
    pub clock: Arc<dyn Clock>,
    /// hCaptcha's test keys by default: no network needed.
    pub captcha: Arc<dyn CaptchaVerifier>,
    /// The address the server listens on, e.g. `http://127.0.0.1:9000`: the site's loopback
    /// addresses in site.toml follow it.
    pub origin: Option<String>,
    /// Let the linkback verifier fetch sources on this machine (127.0.0.1, ::1): for
    /// tests, whose source pages are served on loopback. Off by default, and refused by
    /// the Lambdas.
    pub linkback_sources_on_loopback: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            rate_limit: 5,
            clock: Arc::new(SystemClock),
            captcha: Arc::new(TestKeyVerifier),
            origin: None,
            linkback_sources_on_loopback: false,
        }
    }
}

#[derive(Clone)]
pub struct LocalSite {
    pub content: Arc<FsBlobStore>,
    pub site: Arc<FsBlobStore>,
    pub records: FjallItemStore,
    pub builder: Arc<Builder>,
    pub data: PathBuf,
    pub outbox: Arc<OutboxMailer>,
    /// Every purpose's key (the importer keys its record ids and hashes like the functions).
    pub keys: shared::signing::Keys,
    pub comments: Arc<comment_submit::handler::Deps>,
    pub moderate: Arc<moderate::handler::Deps>,
    pub spam: Arc<spam_verify::handler::Deps>,
    pub signup: Arc<signup::Deps>,
    pub linkbacks: Arc<linkbacks::handler::Deps>,
    pub linkback_verify: Arc<linkback_verify::handler::Deps>,
    pub supporter_mail: Arc<supporter_mail::handler::Deps>,
}

impl LocalSite {
    pub fn open(content: &Path, data: &Path) -> Result<Self, LocalError> {
        Self::open_with(content, data, LocalOptions::default())
    }

    pub fn open_with(content: &Path, data: &Path, opts: LocalOptions) -> Result<Self, LocalError> {
        let stores = LocalStores::open(content, data)?;
        let mut parts = stores.assemble(opts.captcha, opts.clock, opts.rate_limit);
        parts.origin = opts.origin;
        parts.source_access.loopback = opts.linkback_sources_on_loopback;
        Ok(Self {
            builder: Arc::new(parts.builder()?),
            comments: Arc::new(comment_submit::handler::Deps::build(&parts)?),
            moderate: Arc::new(moderate::handler::Deps::build(&parts)?),
            spam: Arc::new(spam_verify::handler::Deps::build(&parts)?),
            signup: Arc::new(signup::Deps::build(&parts)?),
            linkbacks: Arc::new(linkbacks::handler::Deps::build(&parts)?),
            linkback_verify: Arc::new(linkback_verify::handler::Deps::build(&parts)?),
            supporter_mail: Arc::new(supporter_mail::handler::Deps::build(&parts)?),
            content: stores.content,
            site: stores.site,
            records: stores.records,
            data: data.to_path_buf(),
            outbox: stores.outbox,
            keys: stores.keys,
        })
    }

    /// The local twin of the DynamoDB stream triggers: every committed change goes to the
    /// spam verifier and, for published comments, to the renderer; queued mentions to the
    /// linkback verifier, queued mail requests to the supporter mail sender. Runs until the
    /// store closes.
    ///
    /// On AWS these are other functions on other machines; here they share the CPU with the
    /// server. So they run on a thread of their own at a lower priority (nice 10): a burst
    /// of comments, or a page being re-rendered, does not hold up visitors' requests, and
    /// the verifier catches up as soon as the server has a moment.
    pub fn start_stream_processing(&self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let site = self.clone();
        let rx = self.records.subscribe();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("stream".into())
            .spawn(move || {
                lower_this_threads_priority();
                let mut rx = rx;
                // Consumers' panics are caught per batch (`guarded`); should the loop itself
                // die, it is started again, after what it missed is caught up from the
                // pending list.
                loop {
                    let run = std::panic::AssertUnwindSafe(|| {
                        runtime.block_on(site.clone().process_stream(rx))
                    });
                    match std::panic::catch_unwind(run) {
                        Ok(()) => return,
                        Err(_) => {
                            tracing::error!("stream processing stopped by a panic; restarting it");
                            rx = site.records.subscribe();
                            let catch_up = std::panic::AssertUnwindSafe(|| {
                                runtime.block_on(async {
                                    let mut backlog = Vec::new();
                                    while site.catch_up(&mut backlog).await {}
                                })
                            });
                            if std::panic::catch_unwind(catch_up).is_err() {
                                tracing::error!("catching up after the restart failed too");
                            }
                        }
                    }
                }
            })
    }

    async fn process_stream(self, mut rx: tokio::sync::broadcast::Receiver<ItemChange>) {
        // Set when the feed overflowed (changes were missed): caught up when it is quiet.
        let mut behind = false;
        // Supporters' mails: sent in order by a task of their own (a mail that fails is
        // retried there, as the stream retries the batch on AWS, without holding up comments).
        let mail = self.supporter_mail_sender();
        let mut backlog = Vec::new();
        loop {
            // Wait for a quiet second before catching up; once catching up, go on at once
            // whenever no new change is waiting (new ones still come first).
            let quiet = if backlog.is_empty() {
                std::time::Duration::from_secs(1)
            } else {
                std::time::Duration::from_millis(1)
            };
            let first = match tokio::time::timeout(quiet, rx.recv()).await {
                Ok(Ok(c)) => c,
                Ok(Err(RecvError::Closed)) => return,
                Ok(Err(RecvError::Lagged(n))) => {
                    tracing::warn!(
                        missed = n,
                        "change feed overflowed; catching up when it is quiet"
                    );
                    behind = true;
                    continue;
                }
                Err(_) => {
                    if behind {
                        behind = self.catch_up(&mut backlog).await;
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            // Each consumer on its own: one that fails, or panics, on a batch never stops
            // the other, nor the ones after it.
            // Linkbacks wait on other sites (up to 5 s each): verified beside the rest, so
            // comments are not held up behind them.
            let mentions = linkback_verify::handler::queued(&batch);
            if !mentions.is_empty() {
                let deps = self.linkback_verify.clone();
                tokio::spawn(async move {
                    if let Some(Err(e)) = guarded(
                        "linkback verification",
                        linkback_verify::handler::verify_all(&deps, mentions),
                    )
                    .await
                    {
                        tracing::error!(error = %e, "linkback verification failed");
                    }
                });
            }
            let requests = supporter_mail::handler::queued(&batch);
            if !requests.is_empty() && mail.send(requests).is_err() {
                tracing::error!("the supporter mail sender has stopped");
            }
            if let Some(Err(e)) = guarded(
                "spam verification",
                spam_verify::handler::on_changes(&self.spam, &batch),
            )
            .await
            {
                tracing::error!(error = %e, "spam verification failed");
            }
            let posts: Vec<String> = shared::comments::posts_with_changed_comments(&batch)
                .into_iter()
                .collect();
            if !posts.is_empty() {
                match guarded(
                    "re-rendering",
                    render::handler::comments_changed(&self.builder, &posts, None),
                )
                .await
                {
                    Some(Ok(r)) => {
                        tracing::info!(posts = ?posts, written = r.written.len(), "comments published")
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "re-render after comment change failed")
                    }
                    None => {}
                }
            }
        }
    }

    /// The local twin of the supporter-mail function's stream trigger: a task that sends
    /// what each batch of mail requests leads to, in order; a batch that fails is tried again
    /// [`MAIL_RETRIES`] times, 1, 2, 4… seconds apart (as the stream retries it on AWS), then
    /// given up, said at error level (its requests lapse after a day).
    fn supporter_mail_sender(
        &self,
    ) -> tokio::sync::mpsc::UnboundedSender<Vec<shared::supporters::MailRequest>> {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<Vec<shared::supporters::MailRequest>>();
        let deps = self.supporter_mail.clone();
        tokio::spawn(async move {
            while let Some(requests) = rx.recv().await {
                for attempt in 0..=MAIL_RETRIES {
                    let work = supporter_mail::handler::send_all(&deps, requests.clone());
                    match guarded("supporter mail", work).await {
                        Some(Ok(_)) => break,
                        Some(Err(e)) => {
                            tracing::error!(error = %e, attempt, "supporter mail failed")
                        }
                        None => {}
                    }
                    if attempt == MAIL_RETRIES {
                        tracing::error!(
                            requests = requests.len(),
                            "supporter mail given up after its retries"
                        );
                    } else {
                        tokio::time::sleep(std::time::Duration::from_secs(1 << attempt)).await;
                    }
                }
            }
        });
        tx
    }

    /// After missed changes: verify the comments still pending, a batch at a time, as a
    /// stream re-drive would; once none are left, rebuild the site (approvals may have been
    /// missed too). The pending list is read once and kept in `backlog` between calls (a
    /// flood leaves hundreds of thousands). Returns whether there is more to do.
    async fn catch_up(&self, backlog: &mut Vec<shared::comments::Comment>) -> bool {
        const BATCH: usize = 500;
        if backlog.is_empty() {
            let store: &dyn ItemStore = &self.records;
            match shared::comments::with_status(store, shared::comments::CommentStatus::Pending)
                .await
            {
                Ok(pending) => *backlog = pending,
                Err(e) => tracing::error!(error = %e, "could not list pending comments"),
            }
        }
        let batch: Vec<_> = backlog.drain(..backlog.len().min(BATCH)).collect();
        // A comment scored meanwhile is left alone: the verdict is written only if the
        // comment is still as it was read.
        if let Some(Err(e)) = guarded(
            "catch-up verification",
            spam_verify::handler::verify_all(&self.spam, batch),
        )
        .await
        {
            tracing::error!(error = %e, "catch-up verification failed");
        }
        if !backlog.is_empty() {
            return true;
        }
        match self.builder.full_build().await {
            Ok(r) => tracing::info!(written = r.written.len(), "caught up"),
            Err(e) => tracing::error!(error = %e, "catch-up build failed"),
        }
        false
    }
}

/// How many times the local supporter mail sender tries a failed batch again (the template
/// gives the function's stream trigger as many).
pub const MAIL_RETRIES: u32 = 5;

/// Run one stream consumer's work on a batch; a panic in it is caught and logged (naming the
/// consumer) instead of ending the stream thread, which would silently stop verification and
/// publication for the rest of the run. `None`: it panicked. (Built with `panic = "abort"`,
/// as the release profile is, a panic ends the process instead: the dev build `cargo run`
/// makes unwinds.)
pub async fn guarded<T>(consumer: &str, work: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(v) => Some(v),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            tracing::error!(
                consumer,
                panic = why,
                "stream consumer panicked; it goes on with the next batch"
            );
            None
        }
    }
}

/// Background work yields to requests: nice 10 for the calling thread (and the threads it
/// starts). Linux keeps a nice value per thread.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain integers; `who = 0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Serve requests without transparent huge pages. The allocator asks for them, and the
/// first touch of each 2 MiB page is zeroed in the faulting thread: on a virtual machine
/// that took 4 to 8 ms, stalling whichever request (or the records writer, and every
/// request queued behind it) happened to grow the heap. 4 KiB pages spread that cost out.
/// (Redis gives the same advice for the same reason.)
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[tokio::test]
    async fn a_consumer_that_panics_does_not_stop_the_next() {
        let first = guarded("first", async {
            let v: Vec<u8> = Vec::new();
            v[1] // panics: index out of bounds
        })
        .await;
        assert_eq!(first, None);
        let second = guarded("second", async { 7 }).await;
        assert_eq!(second, Some(7));
    }
}
