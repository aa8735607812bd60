//! The admin subcommands of the `keyhaven` binary: a gRPC client of the
//! `keyhaven.admin.v1` control plane.
//!
//! The binary flattens [`Connection`] into its arguments, takes an [`AdminCommand`] as a
//! subcommand and calls [`run`]; on error it prints the [`CliError`] and exits with 1.
//!
//! Invariants: the control plane is reached only through the generated clients of
//! `keyhaven-proto`, over one channel that adds the management token to every request; the
//! token is never printed; a user's password is read only from stdin, never from the
//! arguments, which other users of the machine can see; gRPC codes are read only in
//! `error.rs`; every resource type has one function turning it into the record that both
//! tables and JSON are printed from.

mod app;
mod audit;
mod connection;
mod duration;
mod environment;
mod error;
mod org;
mod output;
mod paging;
mod redirect_uri;
mod session;
mod tenant;
mod token;
mod user;

pub use connection::Connection;
pub use error::CliError;

/// The admin subcommands: `keyhaven <noun> <verb>`.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Organizations: the owners of tenants and organization tokens
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Tenants: each has its own issuer, users, applications and keys
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Users: the people who sign in to a tenant
    #[command(subcommand)]
    User(user::UserCommand),
    /// Applications: the OAuth clients of a tenant
    #[command(subcommand)]
    App(app::AppCommand),
    /// Redirect URIs of an application
    #[command(subcommand)]
    RedirectUri(redirect_uri::RedirectUriCommand),
    /// Sign-in sessions of a tenant's users: list them, end them
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Management tokens: the bearer tokens of this admin API
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The audit log of control-plane changes
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Runs one admin command against the control plane and prints its result on stdout
/// (notes and warnings go to stderr). Arguments are checked, and the token is required,
/// before anything is sent.
pub async fn run(connection: &Connection, command: AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::Org(command) => org::run(connection, command).await,
        AdminCommand::Tenant(command) => tenant::run(connection, command).await,
        AdminCommand::User(command) => user::run(connection, command).await,
        AdminCommand::App(command) => app::run(connection, command).await,
        AdminCommand::RedirectUri(command) => redirect_uri::run(connection, command).await,
        AdminCommand::Session(command) => session::run(connection, command).await,
        AdminCommand::Token(command) => token::run(connection, command).await,
        AdminCommand::Audit(command) => audit::run(connection, command).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// The shape the binary gives these arguments.
    #[derive(Parser)]
    #[command(name = "keyhaven")]
    struct Cli {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: AdminCommand,
    }

    fn help(args: &[&str]) -> String {
        let argv = std::iter::once(&"keyhaven").chain(args);
        match Cli::try_parse_from(argv) {
            Ok(_) => String::new(),
            Err(error) => error.render().to_string(),
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tenant_create_help_explains_its_flags() {
        let help = help(&["tenant", "create", "--help"]);
        for expected in [
            "--slug",
            "--display-name",
            "--request-id",
            "--disable-env",
            "localhost",
        ] {
            assert!(help.contains(expected), "{expected} missing from:\n{help}");
        }
    }

    #[test]
    fn user_create_help_says_the_password_comes_from_stdin() {
        let help = help(&["user", "create", "--help"]);
        for expected in [
            "--tenant",
            "--username",
            "--email",
            "--given-name",
            "--family-name",
            "--password-stdin",
            "never taken as an argument",
        ] {
            assert!(help.contains(expected), "{expected} missing from:\n{help}");
        }
        assert!(!help.contains("--password "), "{help}");
    }

    #[test]
    fn every_user_verb_takes_a_username_and_its_tenant() {
        for verb in ["get", "disable", "enable", "delete"] {
            let cli = Cli::try_parse_from(["keyhaven", "user", verb, "alice", "--tenant", "acme"]);
            assert!(cli.is_ok(), "user {verb}");
        }
        let cli = Cli::try_parse_from([
            "keyhaven",
            "user",
            "set-password",
            "tenants/acme/users/u1",
            "--password-stdin",
        ]);
        assert!(cli.is_ok());
    }

    #[test]
    fn connection_flags_are_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "keyhaven",
            "tenant",
            "get",
            "acme",
            "--json",
            "--token",
            "kh_x",
            "--admin-url",
            "http://127.0.0.1:1",
        ]);
        let connection = cli.map(|c| c.connection).ok();
        assert_eq!(connection.as_ref().map(|c| c.json), Some(true));
        assert_eq!(
            connection.map(|c| c.admin_url).as_deref(),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn enum_flags_take_lowercase_kebab_case_values() {
        let cli = Cli::try_parse_from([
            "keyhaven",
            "redirect-uri",
            "create",
            "--app",
            "tenants/acme/applications/c1",
            "--uri",
            "https://acme.example/logout",
            "--purpose",
            "post-logout",
            "--environment",
            "production",
        ]);
        assert!(cli.is_ok());
    }
}
