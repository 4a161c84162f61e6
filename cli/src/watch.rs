//! The local twin of the S3 trigger: content file changes, debounced, go to the builder.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use shared::site::build::ContentEvent;
use tokio::sync::mpsc;

use crate::local::LocalSite;

/// Changes closer together than this are built together (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(120);

/// Watch the content folder until the returned watcher is dropped.
pub fn watch(site: LocalSite) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if matches!(
                ev.kind,
                notify::EventKind::Create(_)
                    | notify::EventKind::Modify(_)
                    | notify::EventKind::Remove(_)
            ) {
                for p in ev.paths {
                    let _ = tx.send(p);
                }
            }
        }
    })?;
    watcher.watch(site.content.root(), RecursiveMode::Recursive)?;
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut paths = vec![first];
            tokio::time::sleep(DEBOUNCE).await;
            while let Ok(p) = rx.try_recv() {
                paths.push(p);
            }
            let mut events: Vec<ContentEvent> = paths
                .into_iter()
                .filter_map(|p| {
                    let key = site.content.key_of(&p)?;
                    // Editors' swap and backup files are not content.
                    let name = key.rsplit('/').next().unwrap_or("");
                    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
                        return None;
                    }
                    Some(ContentEvent {
                        removed: !p.exists(),
                        key,
                        at: None,
                    })
                })
                .collect();
            events.sort_by(|a, b| a.key.cmp(&b.key));
            events.dedup();
            if events.is_empty() {
                continue;
            }
            let started = std::time::Instant::now();
            match site.builder.apply(&events).await {
                Ok(report) => {
                    println!(
                        "{} changed: rebuilt in {} ms",
                        events
                            .iter()
                            .map(|e| e.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        started.elapsed().as_millis()
                    );
                    crate::print_report(&report);
                }
                Err(e) => eprintln!("build failed: {e}"),
            }
        }
    });
    Ok(watcher)
}
