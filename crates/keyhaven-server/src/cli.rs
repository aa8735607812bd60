//! The command line: `serve`, `migrate`, and the admin commands of `keyhaven-cli`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub const ABOUT: &str = "Keyhaven: a multi-tenant OAuth 2.0 / OpenID Connect identity service";

#[derive(Debug, Parser)]
#[command(name = "keyhaven", version, about = ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: migrations, first-start bootstrap, admin gRPC and public HTTP.
    Serve {
        /// TOML configuration file; KEYHAVEN_* environment variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply or inspect database migrations.
    Migrate {
        /// TOML configuration file (for the database URL).
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: MigrateAction,
    },
    #[command(flatten)]
    Admin(keyhaven_cli::AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// List migrations and whether each is applied.
    Status,
}
