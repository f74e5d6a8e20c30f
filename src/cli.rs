//! The command line: `serve` (the default), `migrate`, `admin create`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::auth::PasswordHasher;
use crate::config::{ENV_HELP, Settings};
use crate::db::models::organization::Features;
use crate::db::models::{Actor, Organization, Role};
use crate::db::{Db, DbError, is_unique_violation, write_tx};
use crate::domain::{EmailAddress, Password};
use crate::services::OpError;
use crate::state::open;

/// Keyward: self-hosted manager of API applications, API keys and access tokens.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, after_help = ENV_HELP)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage admin accounts.
    Admin {
        /// What to do with admins.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage the operators, who run the server's organizations.
    Operator {
        /// What to do with operators.
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Show or set what an organization's subscription includes: its
    /// features and limits.
    Features {
        /// The organization's slug; the installation's first organization
        /// when omitted.
        #[arg(long = "org")]
        org: Option<String>,
        /// What to do with features.
        #[command(subcommand)]
        command: Option<FeaturesCommand>,
    },
    /// The Expiry of API keys alert.
    Alerts {
        /// What to do.
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Create demo services, staff, guests and bookings, and print a new key of
    /// the demo app (shown once) to try the API with.
    DemoData,
}

/// `keyward alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Run the alert job once (for cron), then exit. Safe beside running servers:
    /// each alert is sent once.
    Run,
}

/// `keyward features …`.
#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Set a feature or a limit.
    Set {
        /// The feature or limit.
        #[arg(value_enum)]
        feature: FeatureArg,
        /// `on` or `off` for a feature; a whole number, or `none` for no
        /// limit, for a limit.
        value: String,
    },
}

/// A feature or limit on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeatureArg {
    /// External systems may call the API (else 402 Payment Required): on or off.
    ExternalConnectivity,
    /// The most apps: a number, or none.
    MaxApps,
    /// The most keys in service per app: a number.
    MaxKeysPerApp,
    /// The ceiling of every key's requests per second: a number, or none.
    MaxRatePerSecond,
}

/// `keyward operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator. The password is read from standard input when it
    /// is not a terminal, otherwise asked for twice without echo.
    Create {
        /// The operator's email, used to sign in on the console's page.
        #[arg(long)]
        email: String,
    },
}

/// `keyward admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin. The password is read from standard input when it is not a
    /// terminal, otherwise asked for twice without echo.
    Create {
        /// The admin's email, used to sign in.
        #[arg(long)]
        email: String,
        /// Full access, or limited (no API keys section).
        #[arg(long, value_enum, default_value_t = RoleArg::Full)]
        role: RoleArg,
        /// The organization's slug; the installation's first organization
        /// when omitted.
        #[arg(long = "org")]
        org: Option<String>,
    },
    /// Unlock an account locked after too many failed sign-ins, and forget its
    /// failures.
    Unlock {
        /// The admin's email.
        #[arg(long)]
        email: String,
    },
}

/// A role on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Everything, including the API keys section.
    Full,
    /// Everything but the API keys section.
    Limited,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Full => Role::Full,
            RoleArg::Limited => Role::Limited,
        }
    }
}

/// Runs the parsed command; the exit code is 0, 1 on failure, 2 on bad input.
/// `serve` is the server's entry point, handed in by the binary: the command
/// line sits below the code that wires the server.
pub fn run(cli: Cli, settings: Settings, serve: fn(Settings) -> ExitCode) -> ExitCode {
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return serve(settings),
        other => other,
    };
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        match command {
            Command::Serve => serve(settings),
            Command::Migrate => migrate(&settings).await,
            Command::Admin {
                command: AdminCommand::Create { email, role, org },
            } => create_admin(&settings, &email, role.into(), org.as_deref()).await,
            Command::Operator {
                command: OperatorCommand::Create { email },
            } => create_operator(&settings, &email).await,
            Command::Admin {
                command: AdminCommand::Unlock { email },
            } => unlock_admin(&settings, &email).await,
            Command::Features { org, command } => {
                features(&settings, org.as_deref(), command).await
            }
            Command::DemoData => demo_data(&settings).await,
            Command::Alerts {
                command: AlertsCommand::Run,
            } => alerts_run(&settings).await,
        }
    })
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("keyward: {message}");
    ExitCode::FAILURE
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn migrate(settings: &Settings) -> ExitCode {
    match open(settings).await {
        Ok((db, _)) => {
            println!("migrations applied ({} database)", db.backend());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn read_password() -> Result<SecretString, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?;
        if first.as_bytes() != second.as_bytes() {
            return Err("the two passwords differ".to_owned());
        }
        Ok(SecretString::from(first))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(SecretString::from(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    }
}

/// A new account's email (from `--email`), its password (read and checked
/// against the rules, hashed), and the opened database; the exit code of a
/// refusal (2 for bad input).
async fn new_account(
    settings: &Settings,
    email: &str,
) -> Result<(EmailAddress, Db, String), ExitCode> {
    let email = EmailAddress::parse(email).map_err(|e| {
        eprintln!("keyward: --email: {e}");
        ExitCode::from(2)
    })?;
    let password = read_password()
        .and_then(|p| Password::parse_for(p, &[email.as_str()]).map_err(|e| e.to_string()))
        .map_err(|e| {
            eprintln!("keyward: password: {e}");
            ExitCode::from(2)
        })?;
    let (db, _) = open(settings).await.map_err(fail)?;
    let hasher = PasswordHasher::new(settings.hash_cost, 1).map_err(fail)?;
    let hash = hasher.hash(password.expose()).await.map_err(fail)?;
    Ok((email, db, hash))
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn create_admin(settings: &Settings, email: &str, role: Role, org: Option<&str>) -> ExitCode {
    let (email, db, hash) = match new_account(settings, email).await {
        Ok(account) => account,
        Err(code) => return code,
    };
    let address = email.clone();
    let slug = org.map(str::to_owned);
    let result = db
        .run(move |conn| {
            write_tx(conn, |conn| {
                let org = organization(conn, slug.as_deref())?;
                crate::services::admins::create_by_operator(
                    conn,
                    &org.id,
                    &address,
                    &hash,
                    role,
                    &Actor::system("command line"),
                )
            })
        })
        .await;
    match result {
        Ok(admin) => {
            println!("created {} admin {}", admin.role().as_str(), admin.email);
            ExitCode::SUCCESS
        }
        Err(OpError::Db(DbError::Query(e))) if is_unique_violation(&e) => {
            eprintln!("keyward: an admin with email {email} exists already");
            ExitCode::from(2)
        }
        Err(e) => fail(e),
    }
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn unlock_admin(settings: &Settings, email: &str) -> ExitCode {
    let email = match EmailAddress::parse(email) {
        Ok(email) => email,
        Err(e) => {
            eprintln!("keyward: --email: {e}");
            return ExitCode::from(2);
        }
    };
    let (db, _) = match open(settings).await {
        Ok(opened) => opened,
        Err(e) => return fail(e),
    };
    let address = email.clone();
    let result = db
        .run(move |conn| {
            write_tx(conn, |conn| {
                let actor = Actor::system("command line");
                // The password and the second factor are throttled apart:
                // unlocking the account unlocks both.
                let factor = crate::services::sign_in::unlock(
                    conn,
                    crate::services::sign_in::Account::SecondFactor(address.clone()),
                    &actor,
                )?;
                let password = crate::services::sign_in::unlock(conn, &address, &actor)?;
                Ok::<_, crate::services::OpError>(password || factor)
            })
        })
        .await;
    match result {
        Ok(true) => {
            println!("unlocked {email}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("{email} was not locked; its failed sign-ins are forgotten");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// The organization a command names by its slug, or the installation's
/// first organization (the one every single-organization database has).
fn organization(conn: &mut crate::db::DbConn, slug: Option<&str>) -> Result<Organization, OpError> {
    match slug {
        None => Ok(Organization::the_one(conn)?),
        Some(slug) => Organization::find_by_slug(conn, &slug.trim().to_ascii_lowercase())?
            .ok_or_else(|| {
                OpError::invalid(
                    "unknown_organization",
                    "org",
                    format!("no organization has the slug {slug}"),
                )
            }),
    }
}

/// A feature's or limit's new value, typed on the command line.
fn feature_value(
    mut features: Features,
    feature: FeatureArg,
    value: &str,
) -> Result<Features, String> {
    use crate::domain::tenant::{MAX_APPS, MAX_KEYS_PER_APP, MAX_RATE_PER_SECOND, parse_limit};
    let limit = |range, optional| {
        let value = if optional && value.eq_ignore_ascii_case("none") {
            ""
        } else {
            value
        };
        parse_limit(value, range, optional).map_err(|e| e.to_string())
    };
    match feature {
        FeatureArg::ExternalConnectivity => {
            features.external_connectivity = match value.to_ascii_lowercase().as_str() {
                "on" => true,
                "off" => false,
                _ => return Err("external-connectivity is on or off".to_owned()),
            }
        }
        FeatureArg::MaxApps => features.max_apps = limit(MAX_APPS, true)?,
        FeatureArg::MaxKeysPerApp => {
            features.max_keys_per_app =
                limit(MAX_KEYS_PER_APP, false)?.unwrap_or(features.max_keys_per_app);
        }
        FeatureArg::MaxRatePerSecond => {
            features.max_rate_per_second = limit(MAX_RATE_PER_SECOND, true)?;
        }
    }
    Ok(features)
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn features(
    settings: &Settings,
    org: Option<&str>,
    command: Option<FeaturesCommand>,
) -> ExitCode {
    let (db, _) = match open(settings).await {
        Ok(opened) => opened,
        Err(e) => return fail(e),
    };
    let slug = org.map(str::to_owned);
    let result = db
        .run(
            move |conn| -> Result<Result<Organization, String>, OpError> {
                let org = organization(conn, slug.as_deref())?;
                if let Some(FeaturesCommand::Set { feature, value }) = command {
                    let features = match feature_value(org.features(), feature, &value) {
                        Ok(features) => features,
                        Err(e) => return Ok(Err(e)),
                    };
                    write_tx(conn, |conn| {
                        crate::services::operators::set_features(
                            conn,
                            &org.id,
                            &features,
                            &crate::services::operators::OperatorActor::command("command line"),
                        )
                    })?;
                }
                Ok(Ok(Organization::find_by_id(conn, &org.id)?))
            },
        )
        .await;
    match result {
        Ok(Ok(org)) => {
            let f = org.features();
            let limit = |n: Option<i32>| n.map_or_else(|| "none".to_owned(), |n| n.to_string());
            println!("organization\t{}", org.slug);
            println!(
                "external_connectivity\t{}",
                if f.external_connectivity { "on" } else { "off" }
            );
            println!("max_apps\t{}", limit(f.max_apps));
            println!("max_keys_per_app\t{}", f.max_keys_per_app);
            println!("max_rate_per_second\t{}", limit(f.max_rate_per_second));
            println!(
                "suspended\t{}",
                if org.suspended_at.is_some() {
                    "yes"
                } else {
                    "no"
                }
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("keyward: {e}");
            ExitCode::from(2)
        }
        Err(e @ OpError::Invalid { .. }) => {
            eprintln!("keyward: {e}");
            ExitCode::from(2)
        }
        Err(e) => fail(e),
    }
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn create_operator(settings: &Settings, email: &str) -> ExitCode {
    let (email, db, hash) = match new_account(settings, email).await {
        Ok(account) => account,
        Err(code) => return code,
    };
    let address = email.clone();
    let result = db
        .run(move |conn| {
            write_tx(conn, |conn| {
                crate::services::operators::create_operator(
                    conn,
                    &address,
                    &hash,
                    &crate::services::operators::OperatorActor::command("command line"),
                    crate::clock::now(),
                )
            })
        })
        .await;
    match result {
        Ok(operator) => {
            println!("created operator {}", operator.email);
            ExitCode::SUCCESS
        }
        Err(e @ OpError::Invalid { .. }) => {
            eprintln!("keyward: {e}");
            ExitCode::from(2)
        }
        Err(OpError::Db(DbError::Query(e))) if is_unique_violation(&e) => {
            eprintln!("keyward: an operator with email {email} exists already");
            ExitCode::from(2)
        }
        Err(e) => fail(e),
    }
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn demo_data(settings: &Settings) -> ExitCode {
    let (db, master_key) = match open(settings).await {
        Ok(opened) => opened,
        Err(e) => return fail(e),
    };
    let hasher = match PasswordHasher::new(settings.hash_cost, 1) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let secret = crate::domain::key_token::generate_app_secret();
    let hash = match hasher
        .hash(secrecy::ExposeSecret::expose_secret(&secret))
        .await
    {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let digest_key = master_key.digest_key();
    let result = db
        .run(move |conn| {
            let org = Organization::the_one(conn)?;
            crate::demo::create(conn, &org.id, &digest_key, &hash)
        })
        .await;
    match result {
        Ok(demo) => {
            if demo.created_resources {
                println!(
                    "Created demo services, employees, working hours, guests, appointments, installments and payments."
                );
            } else {
                println!("Demo resources exist already; left as they are.");
            }
            println!("Demo app: {}", demo.app_id);
            println!("New API key (shown once; store it now):");
            println!("{}", secrecy::ExposeSecret::expose_secret(&demo.key));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[expect(clippy::print_stdout, reason = "the command's result is its output")]
async fn alerts_run(settings: &Settings) -> ExitCode {
    let (db, _) = match open(settings).await {
        Ok(opened) => opened,
        Err(e) => return fail(e),
    };
    let mailer = match crate::email::Mailer::from_settings(settings) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let worker = format!("cli-{}", crate::secrets::random_token::<6>());
    let url = settings.public_url.to_string();
    match crate::jobs::expiry_alerts::run_all(&db, &mailer, &url, &worker, crate::clock::now())
        .await
    {
        Ok(r) => {
            println!(
                "queued {}, sent {}, failed {}, cancelled {} ({})",
                r.queued,
                r.sent,
                r.failed,
                r.cancelled,
                mailer.description()
            );
            if r.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(e),
    }
}
