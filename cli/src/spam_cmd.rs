//! `site spam`: how good the spam filter is on comments labelled by hand, and the shipped
//! model's training.
//!
//! Input files are CSV with the columns `COMMENT_ID,AUTHOR,DATE,CONTENT,label` (label 1 =
//! spam), the layout of the UCI YouTube Spam Collection (Alberto, Lochter and Almeida,
//! 2015; CC BY 4.0). CONTENT may hold HTML: it is scored as the text a visitor typed.

use std::path::{Path, PathBuf};

use serde_json::json;
use shared::comments::evaluation::{self, Labelled, Tally};
use shared::comments::filter::{self, SpamSettings};
use shared::comments::spam::Blocklist;

#[derive(Debug, thiserror::Error)]
pub enum SpamCmdError {
    #[error("{0}: {1}")]
    Read(PathBuf, String),
    #[error("{0}: no column {1} (expected COMMENT_ID,AUTHOR,DATE,CONTENT,label)")]
    Column(PathBuf, &'static str),
    #[error("{0}, row {1}: label must be 0 or 1, not `{2}`")]
    Label(PathBuf, u64, String),
    #[error("{0}")]
    Other(String),
}

/// Labelled rows of one CSV file.
pub fn read_csv(path: &Path) -> Result<Vec<Labelled>, SpamCmdError> {
    let read = |e: csv::Error| SpamCmdError::Read(path.to_path_buf(), e.to_string());
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(read)?;
    let headers = reader.headers().map_err(read)?.clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| SpamCmdError::Column(path.to_path_buf(), name))
    };
    let (author, content, label) = (col("AUTHOR")?, col("CONTENT")?, col("label")?);
    // Optional: without dates, rows are taken in file order.
    let date = col("DATE").ok();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(read)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").to_string();
        let spam = match field(label).trim() {
            "1" => true,
            "0" => false,
            other => return Err(SpamCmdError::Label(path.to_path_buf(), line, other.into())),
        };
        rows.push(Labelled {
            author: field(author),
            body: field(content),
            spam,
            date: date.map(field).unwrap_or_default(),
        });
    }
    Ok(rows)
}

/// How `evaluate` picks the thresholds.
#[derive(Debug, Clone, Copy)]
pub enum Thresholds {
    /// The site's own (`[spam]` in site.toml, or the defaults).
    Given(SpamSettings),
    /// For each held-out file, the pair [`evaluation::choose_thresholds`] learns from the
    /// other files, so the file reported never tunes the thresholds that judge it.
    FromTraining { floor: f64 },
}

/// One file's figures: as a site with a moderator lives them (the headline), and from the
/// model alone, before any moderator verdict.
struct FileResult {
    file: PathBuf,
    settings: SpamSettings,
    moderated: Tally,
    model_alone: Tally,
}

/// Evaluate on each file. With several files, each is scored by a model trained on the
/// others only (leave one file out): the shipped model has seen the shared corpus, so
/// scoring the corpus with it would flatter it. With one file, the shipped model is used.
pub fn evaluate(
    files: &[PathBuf],
    thresholds: Thresholds,
    blocklist: &Blocklist,
    as_json: bool,
) -> Result<Tally, SpamCmdError> {
    let data: Vec<Vec<Labelled>> = files
        .iter()
        .map(|f| read_csv(f))
        .collect::<Result<_, _>>()?;
    let mut results = Vec::new();
    for (i, rows) in data.iter().enumerate() {
        let (model, settings) = if data.len() > 1 {
            let training: Vec<Vec<Labelled>> = data
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| r.clone())
                .collect();
            let settings = match thresholds {
                Thresholds::Given(s) => s,
                Thresholds::FromTraining { floor } => {
                    evaluation::choose_thresholds(&training, blocklist, floor)
                        .map(|(s, _)| s)
                        .ok_or_else(|| {
                            SpamCmdError::Other(format!(
                                "choosing thresholds for {} needs at least two other files",
                                files[i].display()
                            ))
                        })?
                }
            };
            let training: Vec<Labelled> = training.into_iter().flatten().collect();
            (evaluation::train(&training), settings)
        } else {
            let Thresholds::Given(settings) = thresholds else {
                return Err(SpamCmdError::Other(
                    "choosing thresholds from training files needs at least three files".into(),
                ));
            };
            (filter::prior().clone(), settings)
        };
        results.push(FileResult {
            file: files[i].clone(),
            settings,
            moderated: evaluation::evaluate_moderated(rows, &model, &settings, blocklist),
            model_alone: evaluation::evaluate(rows, &model, &settings, blocklist),
        });
    }
    let mut overall = (Tally::default(), Tally::default());
    for r in &results {
        overall.0.add(&r.moderated);
        overall.1.add(&r.model_alone);
    }
    if as_json {
        let files_json: Vec<_> = results
            .iter()
            .map(|r| {
                let mut v = summary(Some(&r.file), &r.moderated);
                v["without_moderator"] = summary(None, &r.model_alone);
                v["thresholds"] = json!(r.settings);
                v
            })
            .collect();
        let mut v = summary(None, &overall.0);
        v["without_moderator"] = summary(None, &overall.1);
        v["files"] = json!(files_json);
        v["leave_one_file_out"] = json!(data.len() > 1);
        v["thresholds_from_training"] =
            json!(matches!(thresholds, Thresholds::FromTraining { .. }));
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        if data.len() > 1 {
            println!("Each file scored by a model trained on the other files only.");
        }
        println!(
            "Comments are taken in the order they were posted; each one the filter holds is \
             judged by its label, as a moderator would, and the model learns that verdict \
             before the next comment. \"model alone\" is the same model with no verdicts.\n"
        );
        for r in &results {
            println!(
                "thresholds: approve_below = {}, spam_at = {}",
                r.settings.approve_below, r.settings.spam_at
            );
            print_tally(&r.file.display().to_string(), &r.moderated, &r.model_alone);
        }
        if results.len() > 1 {
            print_tally("overall", &overall.0, &overall.1);
        }
    }
    Ok(overall.0)
}

/// `site spam tune`: the thresholds that decide the most on these files while both
/// precisions stay at or above `floor`, measured leave one file out.
pub fn tune(files: &[PathBuf], blocklist: &Blocklist, floor: f64) -> Result<(), SpamCmdError> {
    let data: Vec<Vec<Labelled>> = files
        .iter()
        .map(|f| read_csv(f))
        .collect::<Result<_, _>>()?;
    let (settings, tally) = evaluation::choose_thresholds(&data, blocklist, floor)
        .ok_or_else(|| SpamCmdError::Other("tuning needs at least two files".into()))?;
    println!(
        "# decides {:.1}% without a moderator at spam precision {:.3} and approval precision {:.3}",
        100.0 * tally.decided_share(),
        tally.spam_precision(),
        tally.approval_precision()
    );
    println!(
        "# ({} comments, each file scored by a model trained on the others)",
        tally.rows
    );
    println!(
        "[spam]\nspam_at = {:.3}\napprove_below = {:.3}",
        settings.spam_at, settings.approve_below
    );
    Ok(())
}

fn summary(file: Option<&Path>, t: &Tally) -> serde_json::Value {
    json!({
        "file": file.map(|f| f.display().to_string()),
        "rows": t.rows,
        "spam_precision": t.spam_precision(),
        "approval_precision": t.approval_precision(),
        "decided_share": t.decided_share(),
        "matrix": {
            "approved": {"ham": t.approved[0], "spam": t.approved[1]},
            "held": {"ham": t.held[0], "spam": t.held[1]},
            "spam": {"ham": t.spam[0], "spam": t.spam[1]},
        },
        "rules": t.rules,
    })
}

fn print_tally(name: &str, t: &Tally, alone: &Tally) {
    println!("{name} ({} comments)", t.rows);
    println!("  verdict      labelled ham  labelled spam");
    for (verdict, counts) in [("approved", t.approved), ("held", t.held), ("spam", t.spam)] {
        println!("  {verdict:<12} {:>12}  {:>13}", counts[0], counts[1]);
    }
    println!(
        "  spam precision {:.3}   approval precision {:.3}   decided without a moderator {:.1}%",
        t.spam_precision(),
        t.approval_precision(),
        100.0 * t.decided_share()
    );
    println!(
        "  model alone (no verdicts): spam precision {:.3}   approval precision {:.3}   decided {:.1}%",
        alone.spam_precision(),
        alone.approval_precision(),
        100.0 * alone.decided_share()
    );
    for (rule, r) in &t.rules {
        println!(
            "  rule {rule:<20} fired {:>5}  on spam {:>5} ({:.1}%)",
            r.fired,
            r.on_spam,
            100.0 * r.on_spam as f64 / r.fired.max(1) as f64
        );
    }
    println!();
}

/// Train the shipped model on these files and write it (JSON).
pub fn train(files: &[PathBuf], out: &Path) -> Result<(), SpamCmdError> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_csv(f)?);
    }
    let model = evaluation::train(&rows);
    let json = serde_json::to_string(&model).map_err(|e| SpamCmdError::Other(e.to_string()))?;
    std::fs::write(out, format!("{json}\n"))
        .map_err(|e| SpamCmdError::Read(out.to_path_buf(), e.to_string()))?;
    println!(
        "trained on {} comments ({} spam); {} bytes written to {}",
        rows.len(),
        rows.iter().filter(|r| r.spam).count(),
        json.len() + 1,
        out.display()
    );
    Ok(())
}
