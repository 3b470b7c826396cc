//! `lora-server`: reads configuration, sets up logging, and serves `lora-http`.
//!
//! ```text
//! lora-server serve                                   # run with env vars / embedded defaults
//! lora-server --config lora.toml serve                # a config file; env vars still win
//! lora-server token --role admin --sub ops --ttl 3600 # mint a token with the HS256 secret
//! lora-server inspect FILE... [--json]                # evaluate files without a server
//! ```

mod config;
mod inspect;

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use camino::Utf8PathBuf;
use clap::{Parser, Subcommand, ValueEnum};
use lora_auth::{AuthConfig, HmacSecret, Role, Verifier};
use lora_http::{AppState, InspectCheck, ServerOptions};
use lora_store::{OpenOptions, Store};

use crate::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "lora-server",
    version,
    about = "The LoRA file service",
    after_help = config::env_help()
)]
struct Cli {
    /// A TOML config file; LORA_* environment variables override its values.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<Utf8PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API.
    #[command(after_help = config::env_help())]
    Serve,
    /// Make the data directory an initialised store (layout and marker), then exit. Needed
    /// once before `serve` with LORA_CREATE_DATA_DIR=false; existing files are kept.
    Init,
    /// Check and evaluate LoRA files without a server (exit status 1 on a `fail` verdict, or
    /// a base model outside LORA_ACCEPT_BASE_MODELS / accept_base_models).
    Inspect {
        /// Files to inspect.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Print the exact API body (JSON) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Mint a token with the configured HS256 secret and print it.
    Token {
        /// The role claim.
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        /// The subject claim (not empty: the server refuses a blank `sub`).
        #[arg(long, value_parser = non_blank)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    User,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::User => Role::User,
        }
    }
}

/// A `--sub` the server would accept: not empty or blank.
fn non_blank(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("the subject must not be empty or blank (the server refuses such tokens)".into())
    } else {
        Ok(value.to_owned())
    }
}

/// Lifetime of the tokens printed in development mode.
const DEV_TOKEN_TTL: u64 = 12 * 3600;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain: "cannot open the data directory: could
            // not create /data/models/loras: Permission denied (os error 13)".
            eprintln!("lora-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let env = |key: &str| std::env::var(key).ok();
    let config = Config::load(cli.config.as_deref(), &env)?;
    match cli.command {
        Command::Serve => serve(config),
        Command::Init => {
            let recovery = Store::init(config.data_dir.clone())
                .context("cannot initialise the data directory")?;
            println!(
                "{} is an initialised LoRA store ({} staging leftovers removed)",
                config.data_dir, recovery.staging_removed
            );
            Ok(())
        }
        Command::Inspect { files, json } => {
            inspect::run(&files, json, &config.admission()).map_err(|message| anyhow!(message))
        }
        Command::Token { role, sub, ttl } => {
            let auth = config.auth()?.context(
                "no key configured: set LORA_JWT_SECRET (or jwt_secret in the config file) to mint tokens",
            )?;
            let verifier = Verifier::new(auth)?;
            let token = verifier.mint(role.into(), &sub, ttl)?;
            println!("{token}");
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let (verifier, dev_mode) = match config.auth()? {
        Some(auth) => (Verifier::new(auth)?, false),
        None if config.bind.ip().is_loopback() => {
            let secret = HmacSecret::generate()?;
            (Verifier::new(AuthConfig::hs256(secret))?, true)
        }
        None => {
            bail!(
                "refusing to serve on {} without a JWT key: set LORA_JWT_SECRET or \
                 LORA_JWT_PUBLIC_KEY_FILE + LORA_JWT_ALGORITHM (only loopback addresses get a \
                 generated development secret)",
                config.bind
            );
        }
    };

    let options = OpenOptions {
        create: config.create_data_dir,
        file_mode: config.file_mode,
    };
    let store = Store::open_with(config.data_dir.clone(), options)
        .context("cannot open the data directory")?;
    let recovery = store.recovery();
    if recovery.staging_removed > 0 || recovery.stale_hashes > 0 || recovery.stale_bin_records > 0 {
        tracing::warn!(
            staging_removed = recovery.staging_removed,
            stale_hashes = recovery.stale_hashes,
            stale_bin_records = recovery.stale_bin_records,
            "repaired the data directory after an unclean stop or changes made by hand"
        );
    } else {
        tracing::info!("data directory consistent: nothing to repair");
    }
    let listener =
        TcpListener::bind(config.bind).with_context(|| format!("cannot bind {}", config.bind))?;
    let addr = listener.local_addr()?;

    if dev_mode {
        let admin = verifier.mint(Role::Admin, "dev-admin", DEV_TOKEN_TTL)?;
        let user = verifier.mint(Role::User, "dev-user", DEV_TOKEN_TTL)?;
        let text = format!(
            "No JWT key configured: development mode with a random secret (loopback only).\n\
             Tokens valid for {hours} hours:\n  admin: {admin}\n  user:  {user}\n\
             Try:  curl -H 'Authorization: Bearer {admin}' http://{addr}/api/v1/admin/lora\n\
             Console: http://{addr}/console/ (paste the admin token to sign in)\n",
            hours = DEV_TOKEN_TTL / 3600
        );
        // Not println!: a reader that closes stdout once it has what it needs (a script
        // that stops at the first URL) must not make the server panic.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    let check = Arc::new(InspectCheck::admitting(config.admission()));
    let store = Arc::new(store);
    let repository: Arc<dyn lora_store::Repository> = match &config.fleet {
        None => Arc::clone(&store) as Arc<dyn lora_store::Repository>,
        Some(fleet_config) => {
            // Objects other nodes put in the bucket pass this node's content rules before
            // they reach its disk: the same check uploads pass.
            let fleet = lora_fleet::Fleet::open(
                Arc::clone(&store),
                fleet_config.clone(),
                Arc::clone(&check) as Arc<dyn lora_http::ContentCheck>,
            )
            .context("cannot start fleet mode")?;
            fleet.spawn_sync().context("cannot start the sync thread")?;
            tracing::info!(
                bucket = %fleet_config.bucket,
                prefix = %fleet_config.prefix,
                endpoint = fleet_config.endpoint.as_deref().unwrap_or("AWS"),
                sync_interval_secs = fleet_config.sync_interval.as_secs(),
                "fleet mode: the bucket is the truth, the data directory this node's replica"
            );
            fleet
        }
    };
    let state = AppState::new(store, Arc::new(verifier))
        .with_repository(repository)
        .with_max_upload_bytes(config.max_upload_bytes)
        .with_content_check(check)
        .with_bin_retention(config.bin_retention)
        .with_body_idle_timeout(config.upload_idle_timeout)
        .with_install_config(config.install())
        .with_max_concurrent_uploads(config.max_concurrent_uploads)
        .with_upload_expiry(config.upload_expiry)
        .with_default_lease(config.replica_lease)
        .with_metrics_token(config.metrics_token.clone());
    let mut options = ServerOptions {
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        ..ServerOptions::default()
    };
    if let Some(workers) = config.workers {
        options.workers = workers.max(1);
    }
    tracing::info!(%addr, data_dir = %config.data_dir, max_upload_bytes = config.max_upload_bytes, "serving");
    actix_web::rt::System::new()
        .block_on(async move { lora_http::run(listener, state, options)?.await })
        .context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (never in this binary) would only be refused: ignore that.
    if format == LogFormat::Json {
        // One JSON object per line, the request's span (with its request id) included.
        let _ = builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init();
    } else {
        // Colours only for a person at a terminal: not in files, pipes or journald.
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = builder.with_ansi(colour).try_init();
    }
}
