//! `site`: the site outside Lambda.
//!
//! - `site serve`: the whole site on 127.0.0.1 with embedded storage, re-rendered when a
//!   content file changes.
//! - `site build`: a full render, of a content folder locally or of the buckets on AWS.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use site::local::LocalSite;

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
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Form submissions allowed per client IP per ten minutes (0: no limit, for load tests).
        #[arg(long, default_value_t = 5)]
        rate_limit: u32,
    },
    /// Render the whole site once.
    Build {
        /// The content folder (local build).
        #[arg(long, default_value = "sample/content")]
        content: PathBuf,
        #[arg(long, default_value = ".data")]
        data: PathBuf,
        /// Build the AWS buckets instead, configured like the render function
        /// (CONTENT_BUCKET, SITE_BUCKET, TABLE_NAME, SIGNING_KEY, STATE_PREFIX).
        #[arg(long)]
        aws: bool,
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
        } => serve(content, data, addr, rate_limit).await,
        Command::Build { content, data, aws } => build(content, data, aws).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(
    content: PathBuf,
    data: PathBuf,
    addr: SocketAddr,
    rate_limit: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let site = LocalSite::open_with(
        &content,
        &data,
        site::local::LocalOptions {
            rate_limit,
            ..Default::default()
        },
    )?;
    let report = site.builder.full_build().await?;
    site::print_report(&report);
    let server = site::server::bind(addr, site.clone()).await?;
    println!(
        "Serving http://{} (content: {}, data: {}). Ctrl-C stops.",
        server.local_addr(),
        content.display(),
        data.display()
    );
    let _watcher = site::watch::watch(site.clone())?;
    site.start_stream_processing();
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
