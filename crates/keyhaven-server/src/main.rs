use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches};
use keyhaven_server::cli::{self, Cli, Command, MigrateAction};
use keyhaven_server::{Config, Dependencies, app, telemetry};
use keyhaven_store::Store;

/// See `mimalloc` in the workspace manifest: what freed memory an idle server gives back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // The connection flags belong to the admin commands, but clap parses them globally.
    let command = keyhaven_cli::Connection::augment_args(Cli::command()).about(cli::ABOUT);
    let matches = command.get_matches();
    let (cli, connection) = match (
        Cli::from_arg_matches(&matches),
        keyhaven_cli::Connection::from_arg_matches(&matches),
    ) {
        (Ok(cli), Ok(connection)) => (cli, connection),
        (Err(e), _) | (_, Err(e)) => e.exit(),
    };
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()).await,
        Command::Migrate { config, action } => migrate(config.as_deref(), action).await,
        Command::Admin(command) => match keyhaven_cli::run(&connection, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(config: Option<&std::path::Path>) -> ExitCode {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Dropped last: what is logged until then is written.
    let _log = match telemetry::init(&config.log_format) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: could not start the log writer: {err}");
            return ExitCode::FAILURE;
        }
    };
    let deps = Dependencies {
        release_memory: keyhaven_server::allocator::release_freed_memory,
        ..Dependencies::default()
    };
    let running = match app::start(&config, deps).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "could not start");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = running.shutdown_handle();
    tokio::spawn(async move {
        app::termination().await;
        let _ = shutdown.send(true);
    });
    running.wait().await;
    ExitCode::SUCCESS
}

async fn migrate(config: Option<&std::path::Path>, action: MigrateAction) -> ExitCode {
    let result = async {
        let config = Config::load(config)?;
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Store::connect(&config.database_url()).await?;
        match action {
            MigrateAction::Up => {
                store.migrate().await?;
                println!("migrations applied");
            }
            MigrateAction::Status => {
                for m in store.migration_status().await? {
                    println!(
                        "{:<8} {}",
                        if m.applied { "applied" } else { "pending" },
                        m.name
                    );
                }
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
