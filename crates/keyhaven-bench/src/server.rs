//! The server under load runs in a process of its own: this program started again with
//! `--serve`, which runs `keyhaven_server::start` on a runtime built as the `keyhaven`
//! binary builds its own. So its CPU time and memory (from `/proc/<pid>`) are the server's
//! alone, and pinning it to a core is what `taskset` does to a process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use keyhaven_server::config::LogFormat;
use serde_json::json;

use crate::{pin, provision};

/// The CPU the server is pinned to with `--pin`; the load generator takes the next one.
pub const SERVER_CPU: usize = 0;

/// What the child prints on its first line of standard output once it is listening.
pub struct Endpoints {
    pub public_url: String,
    pub admin_url: String,
    /// The bootstrap organization token's file, written on the first start only.
    pub token_file: Option<PathBuf>,
}

/// A server process; it stops (gracefully) when its standard input closes.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    pub endpoints: Endpoints,
}

impl Server {
    /// Starts a server over `data_dir` (and `database_url`, if any) and waits until it
    /// listens.
    pub fn spawn(
        data_dir: &Path,
        database_url: Option<&str>,
        pinned: bool,
        log: Log,
    ) -> Result<Server, Box<dyn std::error::Error>> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--serve")
            .arg(data_dir)
            .arg(format!("--pin={pinned}"))
            .arg("--log")
            .arg(
                log.to_possible_value()
                    .map_or("off".into(), |v| v.get_name().to_owned()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(match log {
                Log::Off => Stdio::inherit(),
                Log::Text | Log::Json => std::fs::File::create(data_dir.join("server.log"))?.into(),
            })
            .env_remove("KEYHAVEN_BENCH_DATABASE_URL")
            // The default filter, whatever the caller's environment says.
            .env_remove("RUST_LOG");
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or("the server's stdout is not piped")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let started: serde_json::Value = match serde_json::from_str(&line) {
            Ok(value) => value,
            Err(_) => {
                let status = child.wait()?;
                return Err(format!("the server did not start ({status})").into());
            }
        };
        let field = |name: &str| started[name].as_str().map(str::to_owned);
        let endpoints = Endpoints {
            public_url: field("public_url").ok_or("no public_url from the server")?,
            admin_url: field("admin_url").ok_or("no admin_url from the server")?,
            token_file: field("token_file").map(PathBuf::from),
        };
        Ok(Server {
            child,
            stdin,
            endpoints,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the server's standard input and waits for its graceful exit.
    pub fn stop(mut self) -> Result<(), Box<dyn std::error::Error>> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the server exited with {status}").into())
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only if `stop` did not run: a failed benchmark must not leave a server behind.
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the server process logs (`--log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Log {
    /// Nothing: no subscriber is installed.
    Off,
    /// As `keyhaven serve` does by default.
    Text,
    /// As `keyhaven serve` does with `KEYHAVEN_LOG_FORMAT=json`.
    Json,
}

/// The child's side (`--serve`): starts the server, prints its endpoints, serves until
/// standard input closes, then shuts down gracefully.
pub fn serve(
    data_dir: &Path,
    database_url: Option<String>,
    pinned: bool,
    log: Log,
) -> Result<(), Box<dyn std::error::Error>> {
    if pinned {
        // Before the runtime and the log's writer exist: every thread started afterwards
        // inherits the main thread's CPU.
        pin::current_thread_to(SERVER_CPU);
    }
    let _log = match log {
        Log::Off => None,
        Log::Text => Some(keyhaven_server::telemetry::init(&LogFormat::Text)?),
        Log::Json => Some(keyhaven_server::telemetry::init(&LogFormat::Json)?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let running = provision::start(data_dir, database_url).await?;
        let token_file = match &running.bootstrap {
            keyhaven_server::bootstrap::Outcome::Written(path) => Some(path.clone()),
            _ => None,
        };
        let started = json!({
            "public_url": running.public_url,
            "admin_url": format!("http://{}", running.admin_addr),
            "token_file": token_file,
        });
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{started}")?;
        stdout.flush()?;
        drop(stdout);
        // Reads until end of file: the parent closed the pipe or exited.
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await??;
        running.stop().await;
        Ok(())
    })
}

/// Start to ready on an already-migrated SQLite database: a first server migrates a fresh
/// one and stops, then a second process is timed from its spawn until `GET /readyz`
/// answers 200 (the process start and the runtime included).
pub async fn start_to_ready(pinned: bool) -> Result<Duration, Box<dyn std::error::Error>> {
    let data = tempfile::tempdir()?;
    Server::spawn(data.path(), None, pinned, Log::Off)?.stop()?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let server = Server::spawn(data.path(), None, pinned, Log::Off)?;
    let readyz = format!("{}/readyz", server.endpoints.public_url);
    loop {
        let ready = http
            .get(&readyz)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err("not ready 10 s after start".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    server.stop()?;
    Ok(elapsed)
}
