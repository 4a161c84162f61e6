//! `site`: the site outside Lambda.
//!
//! - `site serve`: the whole site on 127.0.0.1 with embedded storage, re-rendered when a
//!   content file changes.
//! - `site build`: a full render, of a content folder locally or of the buckets on AWS.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use site::local::LocalSite;

// The local server allocates for every request; mimalloc serves that many small, short-lived
// allocations across threads faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "site", version, about = "Run, build and look after the site")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole site locally: render, serve, and re-render on every content change.
    Serve {
        /// The content folder (site.toml, quotes.toml, posts/, photos/, templates/, static/).
        #[arg(long, default_value = "sample/content")]
        content: PathBuf,
        /// Where embedded state lives (the built site, the records database, the outbox).
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Where to listen [default: 127.0.0.1:8080, or the next free port if it is taken].
        /// Links, forms and mailed links follow it unless site.toml sets a public address.
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Form submissions allowed per client IP per ten minutes (0: no limit, for load tests).
        #[arg(long, default_value_t = 5)]
        rate_limit: u32,
        /// Let the linkback verifier fetch source pages from this machine (127.0.0.1, ::1),
        /// for testing pingbacks and Webmentions with a page served locally. Everything
        /// else private stays refused.
        #[arg(long)]
        linkback_sources_on_loopback: bool,
    },
    /// Render the whole site once.
    Build {
        /// The content folder (local build).
        #[arg(long, default_value = "sample/content")]
        content: PathBuf,
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Build the AWS buckets instead, configured like the render function
        /// (CONTENT_BUCKET, SITE_BUCKET, TABLE_NAME, FORM_KEY, STATE_PREFIX).
        #[arg(long)]
        aws: bool,
    },
    /// The supporter list.
    Supporters {
        #[command(subcommand)]
        command: SupportersCommand,
        #[arg(long, default_value = "sample/content", global = true)]
        content: PathBuf,
        #[arg(long, default_value = ".data", global = true)]
        data: PathBuf,
        /// Read the DynamoDB table named by TABLE_NAME instead of the local database.
        #[arg(long, global = true)]
        aws: bool,
    },
    /// The spam filter: measure it on labelled comments, or train the shipped model.
    Spam {
        #[command(subcommand)]
        command: SpamCommand,
    },
    /// Make a deployment's signing keys: one per purpose, derived from a master key with
    /// HKDF, printed as the JSON the keys secret holds (docs/deploy.md, "Secrets").
    Keys {
        /// Derive from the master key (hex) on standard input, instead of a new one.
        #[arg(long)]
        master_from_stdin: bool,
        /// Upgrading a site that had one SIGNING_KEY: the environment variable holding it.
        /// The identity and supporter keys stay that key, so stored address hashes and
        /// mailed manage links keep working.
        #[arg(long, value_name = "VARIABLE")]
        keep_from_env: Option<String>,
    },
    /// Move another site over: `site import wordpress EXPORT.xml`.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// List and moderate comments.
    Comments {
        #[command(subcommand)]
        command: CommentsCommand,
        #[arg(long, default_value = "sample/content", global = true)]
        content: PathBuf,
        #[arg(long, default_value = ".data", global = true)]
        data: PathBuf,
        /// Work on the DynamoDB table named by TABLE_NAME instead of the local database.
        #[arg(long, global = true)]
        aws: bool,
    },
}

#[derive(Subcommand)]
enum ImportSource {
    /// A WordPress export (Tools → Export → All content): posts, pages, photos with their
    /// captions and credits, comments, pingbacks, and redirects from every old address.
    /// Importing the same file again changes nothing.
    Wordpress {
        /// The export file (WXR 1.0, 1.1 or 1.2).
        export: PathBuf,
        /// A copy of the old site's wp-content/uploads folder, where the photos are.
        #[arg(long)]
        uploads: Option<PathBuf>,
        /// Report what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The content folder to import into.
        #[arg(long, default_value = "sample/content")]
        content: PathBuf,
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Import into the content bucket and the table (CONTENT_BUCKET, TABLE_NAME,
        /// IDENTITY_KEY, as the functions are configured) instead.
        #[arg(long)]
        aws: bool,
    },
}

#[derive(Subcommand)]
enum CommentsCommand {
    /// List comments with a status (held ones wait for you).
    List {
        #[arg(long, default_value = "held")]
        status: String,
    },
    /// Approve a comment: it appears on its post.
    Approve { id: String },
    /// Mark a comment as spam: it stays hidden.
    Spam { id: String },
    /// Delete a comment for good.
    Delete { id: String },
}

#[derive(Subcommand)]
enum SpamCommand {
    /// Score labelled comments (CSV: COMMENT_ID,AUTHOR,DATE,CONTENT,label) exactly as the
    /// verifier does and print how often it is right. With several files, each is scored by
    /// a model trained on the others (leave one file out).
    Evaluate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object on standard output, for scripts.
        #[arg(long)]
        json: bool,
        /// Take the thresholds (`[spam]` in site.toml) and blocklist.txt from this folder.
        #[arg(long)]
        content: Option<PathBuf>,
        /// Instead of the site's thresholds, judge each file with the thresholds `tune`
        /// learns from the other files (needs three files or more): the honest figure for
        /// thresholds nobody chose by looking at the file reported.
        #[arg(long)]
        thresholds_from_training: bool,
    },
    /// Find the thresholds that decide the most comments without a moderator while both
    /// precisions stay at or above `--floor`, leave one file out; prints a `[spam]` section
    /// for site.toml.
    Tune {
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 0.99)]
        floor: f64,
        /// Take blocklist.txt from this folder.
        #[arg(long)]
        content: Option<PathBuf>,
    },
    /// Train the model shipped with the product on labelled comments.
    Train {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value = "shared/src/comments/spam_prior.json")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum SupportersCommand {
    /// Confirmed supporters as CSV on standard output.
    Export {
        /// individual or organisation
        #[arg(long = "type")]
        supporter_type: Option<String>,
        /// yes: only those who want the e-newsletter; no: only those who do not
        #[arg(long)]
        newsletter: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            content,
            data,
            addr,
            rate_limit,
            linkback_sources_on_loopback,
        } => {
            serve(
                content,
                data,
                addr,
                rate_limit,
                linkback_sources_on_loopback,
            )
            .await
        }
        Command::Build { content, data, aws } => build(content, data, aws).await,
        Command::Comments {
            command,
            content,
            data,
            aws,
        } => comments(command, content, data, aws).await,
        Command::Supporters {
            command,
            content,
            data,
            aws,
        } => supporters(command, content, data, aws).await,
        Command::Spam { command } => spam(command),
        Command::Import { source } => import(source).await,
        Command::Keys {
            master_from_stdin,
            keep_from_env,
        } => keys(master_from_stdin, keep_from_env),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The thresholds (`[spam]` in site.toml) and blocklist of a content folder, or the defaults.
fn spam_settings(
    content: Option<&std::path::Path>,
) -> Result<
    (
        shared::comments::filter::SpamSettings,
        shared::comments::spam::Blocklist,
    ),
    Box<dyn std::error::Error>,
> {
    let Some(dir) = content else {
        return Ok(Default::default());
    };
    let config =
        shared::site::config::SiteConfig::parse(&std::fs::read_to_string(dir.join("site.toml"))?)?;
    let blocklist = std::fs::read_to_string(dir.join("blocklist.txt"))
        .map(|t| shared::comments::spam::Blocklist::parse(&t))
        .unwrap_or_default();
    Ok((config.spam, blocklist))
}

fn spam(command: SpamCommand) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        SpamCommand::Evaluate {
            files,
            json,
            content,
            thresholds_from_training,
        } => {
            let (settings, blocklist) = spam_settings(content.as_deref())?;
            let thresholds = if thresholds_from_training {
                site::spam_cmd::Thresholds::FromTraining { floor: 0.99 }
            } else {
                site::spam_cmd::Thresholds::Given(settings)
            };
            site::spam_cmd::evaluate(&files, thresholds, &blocklist, json)?;
        }
        SpamCommand::Tune {
            files,
            floor,
            content,
        } => {
            let (_, blocklist) = spam_settings(content.as_deref())?;
            site::spam_cmd::tune(&files, &blocklist, floor)?;
        }
        SpamCommand::Train { files, out } => site::spam_cmd::train(&files, &out)?,
    }
    Ok(())
}

async fn serve(
    content: PathBuf,
    data: PathBuf,
    addr: Option<SocketAddr>,
    rate_limit: u32,
    linkback_sources_on_loopback: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    site::local::without_transparent_huge_pages();
    // Listen first: the pages' links and forms point at the address actually taken.
    let listener = site::server::listen(addr).await?;
    let local = listener.local_addr()?;
    if addr.is_none() && local.to_string() != site::server::DEFAULT_ADDR {
        println!(
            "{} is in use by another program; using {local} instead.",
            site::server::DEFAULT_ADDR
        );
    }
    let site = LocalSite::open_with(
        &content,
        &data,
        site::local::LocalOptions {
            rate_limit,
            origin: Some(format!("http://{local}")),
            linkback_sources_on_loopback,
            ..Default::default()
        },
    )?;
    let report = site.builder.full_build().await?;
    site::print_report(&report);
    // The site owner's commands reach the records through this server while it runs.
    let admin = site::admin::AdminGuard::create(&data, local)?;
    let server = site::server::Server::new(listener, site.clone()).with_admin_secret(&admin.secret);
    println!(
        "Serving http://{} (content: {}, data: {}). Ctrl-C stops.",
        server.local_addr(),
        content.display(),
        data.display()
    );
    let _watcher = site::watch::watch(site.clone())?;
    site.start_stream_processing()?;
    println!(
        "Comments: hCaptcha test keys; mail to {} lands in {}",
        site::local::LOCAL_MODERATOR,
        data.join("outbox").display()
    );
    tokio::select! {
        r = server.run() => r?,
        _ = tokio::signal::ctrl_c() => println!("stopped"),
    }
    Ok(())
}

async fn build(
    content: PathBuf,
    data: PathBuf,
    aws: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let builder = if aws {
        site::aws_builder().await?
    } else {
        LocalSite::open(&content, &data)?.builder.clone()
    };
    let report = builder.full_build().await?;
    site::print_report(&report);
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} content file(s) could not be published",
            report.errors.len()
        )
        .into())
    }
}

/// The records store: DynamoDB (TABLE_NAME) with `--aws`, else the local database.
/// While `site serve` runs on this data folder it holds the records database: the command
/// runs in that server, and what it says is printed. `Ok(false)`: no server runs.
async fn through_the_server(
    data: &std::path::Path,
    command: &site::admin::Command,
) -> Result<bool, Box<dyn std::error::Error>> {
    match site::admin::send(data, command).await {
        Some(Ok(out)) => {
            print!("{out}");
            Ok(true)
        }
        Some(Err(e)) => Err(e.into()),
        None => Ok(false),
    }
}

fn keys(
    master_from_stdin: bool,
    keep_from_env: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let master = if master_from_stdin {
        Some(site::keys_cmd::read_master_from_stdin()?)
    } else {
        None
    };
    let legacy = keep_from_env.map(|var| {
        let value = std::env::var(&var).ok();
        (var, value)
    });
    let made = site::keys_cmd::make(
        master.as_deref(),
        legacy.as_ref().map(|(v, val)| (v.as_str(), val.clone())),
    )?;
    if let Some(m) = &made.new_master {
        eprintln!(
            "A new master key was made. Keep it offline (it makes these keys again with \
             `site keys --master-from-stdin`); no function needs it:\n{m}"
        );
    }
    println!("{}", made.secret_json);
    Ok(())
}

async fn import(source: ImportSource) -> Result<(), Box<dyn std::error::Error>> {
    let ImportSource::Wordpress {
        export,
        uploads,
        dry_run,
        content,
        data,
        aws,
    } = source;
    // The records store as the other commands open it; the content store beside it.
    let (records, local) = records_store(&content, &data, aws).await?;
    let target = match local {
        Some(local) => site::import::Target {
            content: local.content.clone(),
            records,
            identity: local.keys.identity.clone(),
        },
        None => {
            let env = shared::env::Env::from_process()?;
            let sdk = shared::adapters::aws::sdk_config().await;
            site::import::Target {
                content: std::sync::Arc::new(shared::adapters::aws::S3BlobStore::new(
                    shared::adapters::aws::s3_client(&sdk),
                    env.require("CONTENT_BUCKET")?,
                    "",
                )),
                records,
                identity: env.identity_key()?,
            }
        }
    };
    let opts = site::import::Options {
        uploads,
        dry_run,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let report = site::import::import_wordpress(&export, &target, &opts).await?;
    report.print(dry_run);
    if !dry_run {
        println!(
            "{}",
            if aws {
                "Done: the render function builds the new pages from the bucket's events."
            } else {
                "Done: `site build` or `site serve` renders the imported site."
            }
        );
    }
    Ok(())
}

async fn records_store(
    content: &std::path::Path,
    data: &std::path::Path,
    aws: bool,
) -> Result<
    (
        std::sync::Arc<dyn shared::ports::ItemStore>,
        Option<LocalSite>,
    ),
    Box<dyn std::error::Error>,
> {
    if aws {
        let env = shared::env::Env::from_process()?;
        let sdk = shared::adapters::aws::sdk_config().await;
        return Ok((
            std::sync::Arc::new(shared::adapters::aws::DynamoItemStore::new(
                shared::adapters::aws::dynamodb_client(&sdk),
                env.require("TABLE_NAME")?,
            )),
            None,
        ));
    }
    let site = LocalSite::open(content, data).map_err(|e| {
        if e.to_string().contains("already open") {
            "the local database is in use by a running `site serve`: stop the server first (or moderate through the links in the mails in <data>/outbox/)".to_string()
        } else {
            e.to_string()
        }
    })?;
    Ok((site.builder.stores.records.clone(), Some(site)))
}

async fn supporters(
    command: SupportersCommand,
    content: PathBuf,
    data: PathBuf,
    aws: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    if !aws {
        let SupportersCommand::Export {
            supporter_type,
            newsletter,
        } = &command;
        let remote = site::admin::Command::SupportersExport {
            supporter_type: supporter_type.clone(),
            newsletter: newsletter.clone(),
        };
        if through_the_server(&data, &remote).await? {
            return Ok(());
        }
    }
    let (store, _site) = records_store(&content, &data, aws).await?;
    match command {
        SupportersCommand::Export {
            supporter_type,
            newsletter,
        } => {
            let filter =
                site::supporters::parse_filter(supporter_type.as_deref(), newsletter.as_deref())?;
            print!(
                "{}",
                site::supporters::export_csv(store.as_ref(), &filter).await?
            );
        }
    }
    Ok(())
}

async fn comments(
    command: CommentsCommand,
    content: PathBuf,
    data: PathBuf,
    aws: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    use shared::comments::moderation::Action;
    if !aws {
        let remote = match &command {
            CommentsCommand::List { status } => site::admin::Command::CommentsList {
                status: status.clone(),
            },
            CommentsCommand::Approve { id } => site::admin::Command::CommentsAct {
                id: id.clone(),
                action: "approve".into(),
            },
            CommentsCommand::Spam { id } => site::admin::Command::CommentsAct {
                id: id.clone(),
                action: "spam".into(),
            },
            CommentsCommand::Delete { id } => site::admin::Command::CommentsAct {
                id: id.clone(),
                action: "delete".into(),
            },
        };
        if through_the_server(&data, &remote).await? {
            return Ok(());
        }
    }
    // Locally the command also re-renders; on AWS the stream does.
    let (store, local) = records_store(&content, &data, aws).await?;
    let builder = local.map(|l| l.builder.clone());
    let action = match command {
        CommentsCommand::List { status } => {
            let status = site::comments_cmd::parse_status(&status)?;
            print!(
                "{}",
                site::comments_cmd::list(store.as_ref(), status).await?
            );
            return Ok(());
        }
        CommentsCommand::Approve { id } => (id, Action::Approve),
        CommentsCommand::Spam { id } => (id, Action::Spam),
        CommentsCommand::Delete { id } => (id, Action::Delete),
    };
    let (post, msg) = site::comments_cmd::act(&store, &action.0, action.1).await?;
    println!("{msg}");
    if let Some(b) = builder {
        let report = b.comments_changed(&post, None).await?;
        site::print_report(&report);
    }
    Ok(())
}
