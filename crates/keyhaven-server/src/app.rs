//! Wiring: open the store, migrate, bootstrap, bind both listeners, serve until told to
//! stop, then drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt;
use keyhaven_admin::{AdminState, AuthLayer, Entropy, OsEntropy};
use keyhaven_core::{Clock, SystemClock};
use keyhaven_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::bootstrap;
use crate::config::Config;
use crate::kek;
use crate::public;
use crate::sweeper::Sweeper;
use crate::{observe, ops};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("could not open the database: {0}")]
    Database(keyhaven_store::StoreError),
    #[error("could not apply migrations: {0}")]
    Migrate(keyhaven_store::StoreError),
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error(transparent)]
    KeyEncryptionKey(#[from] kek::KekError),
    #[error("could not listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("could not build the gRPC services: {0}")]
    Grpc(String),
    #[error("could not build the back-channel logout client: {0}")]
    BackchannelLogout(String),
}

/// What the wiring can be given from outside: tests hand in their own clock.
pub struct Dependencies {
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// Run on a password hashing thread after each hash, to give the freed argon2id
    /// block back to the OS: the binary passes its allocator's (see [`crate::allocator`]).
    /// Does nothing by default.
    pub release_memory: fn(),
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            release_memory: || {},
        }
    }
}

/// A started Keyhaven: where it listens, and how to stop it.
pub struct Running {
    pub admin_addr: SocketAddr,
    pub public_addr: SocketAddr,
    /// The operations listener (`GET /metrics`).
    pub metrics_addr: SocketAddr,
    pub public_url: String,
    pub bootstrap: bootstrap::Outcome,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    sweeper: Sweeper,
}

impl Running {
    /// Starts a graceful shutdown and waits until both listeners have drained.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// A handle that starts the shutdown when fired (for signal handlers).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Runs one background-cleanup pass now, whatever the schedule (tests, operators).
    pub async fn sweep_now(
        &self,
    ) -> Result<keyhaven_store::sweep::Swept, keyhaven_store::StoreError> {
        self.sweeper.sweep_now().await
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

pub async fn start(config: &Config, deps: Dependencies) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = Store::connect(&config.database_url())
        .await
        .map_err(StartError::Database)?;
    store.migrate().await.map_err(StartError::Migrate)?;
    let (key_encryption_key, kek_source) = kek::load_or_generate(
        &config.data_dir,
        config.key_encryption_key.as_deref(),
        deps.entropy.as_ref(),
    )?;
    match &kek_source {
        kek::Source::Configured => {
            tracing::info!("signing keys are sealed with KEYHAVEN_KEY_ENCRYPTION_KEY")
        }
        kek::Source::Loaded(path) => {
            tracing::info!(path = %path.display(), "signing keys are sealed with the key-encryption key in this file")
        }
        kek::Source::Generated(path) => {
            tracing::info!(path = %path.display(), "first start: generated the key-encryption key that seals signing keys into this file (mode 0600); back it up with the database")
        }
    }
    if store.backend() == keyhaven_store::Backend::Postgres && kek_source != kek::Source::Configured
    {
        tracing::warn!(
            "KEYHAVEN_KEY_ENCRYPTION_KEY is unset: every replica sharing this database must use the same key-encryption key, so set it explicitly"
        );
    }

    let admin_listener = TcpListener::bind(config.admin_addr)
        .await
        .map_err(|e| StartError::Bind(config.admin_addr, e))?;
    let public_listener = TcpListener::bind(config.public_addr)
        .await
        .map_err(|e| StartError::Bind(config.public_addr, e))?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.admin_addr, e))?;
    let public_addr = public_listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.public_addr, e))?;
    let public_url = config.public_url(public_addr);
    let metrics_listener = TcpListener::bind(config.metrics_addr)
        .await
        .map_err(|e| StartError::Bind(config.metrics_addr, e))?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.metrics_addr, e))?;
    let metrics = Arc::new(keyhaven_metrics::Metrics::new());

    let state = AdminState {
        store: store.clone(),
        clock: deps.clock,
        entropy: deps.entropy,
        public_url: public_url.clone(),
        hasher: keyhaven_store::PasswordHasher::per_core(deps.release_memory),
        kek: Arc::new(key_encryption_key),
        metrics: metrics.clone(),
    };
    let (tenants, clients) =
        keyhaven_oauth::state::Shared::caches_following(&store, state.kek.clone());
    // Listening before serving: no change committed after this can go unheard.
    let changes = keyhaven_store::changes::Listener::connect(&store)
        .await
        .map_err(StartError::Database)?;
    let oauth = keyhaven_oauth::OAuthState::new(keyhaven_oauth::state::Shared {
        store: store.clone(),
        clock: state.clock.clone(),
        entropy: state.entropy.clone(),
        public_url: Arc::from(public_url.as_str()),
        tenants,
        clients,
        hasher: state.hasher.clone(),
        refresh_retry_window: Duration::from_secs(config.refresh_retry_window_seconds),
        metrics: metrics.clone(),
    });
    let bootstrap =
        bootstrap::run(&state, &config.data_dir, config.bootstrap_token.as_deref()).await?;
    match &bootstrap {
        bootstrap::Outcome::Written(path) => {
            tracing::info!(path = %path.display(), "first start: organization `default` created; its token is in this file (mode 0600)")
        }
        bootstrap::Outcome::Supplied => {
            tracing::info!(
                "first start: organization `default` created with the token from KEYHAVEN_BOOTSTRAP_TOKEN"
            )
        }
        bootstrap::Outcome::AlreadyInitialised => {}
    }

    let control_plane = keyhaven_admin::control_plane(state.clone())
        .await
        .map_err(|e| StartError::Grpc(e.to_string()))?;
    let ready = Arc::new(AtomicBool::new(true));
    let deliverer = keyhaven_oauth::backchannel_logout::Deliverer::new(oauth.clone())
        .map_err(|e| StartError::BackchannelLogout(e.to_string()))?;
    let public_router = public::router(
        oauth,
        public::Health {
            store: store.clone(),
            ready: ready.clone(),
        },
    );

    // After every route is in place: the layer wraps each one, where its template is known.
    let public_router = public_router.layer(observe::ObserveLayer::new(
        metrics.clone(),
        observe::Listener::Public,
    ));
    let ops_router = ops::router(metrics.clone(), store.clone());

    let sweeper = Sweeper::new(store.clone(), state.clock.clone());
    let (shutdown, signal) = watch::channel(false);
    let drain_timeout = config.drain_timeout();
    let grpc = tonic::transport::Server::builder()
        // Outside authentication, so refused calls are counted and carry a request id too.
        .layer(observe::ObserveLayer::new(
            metrics.clone(),
            observe::Listener::Admin,
        ))
        .layer(AuthLayer::new(state))
        .add_routes(control_plane.routes)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a response written in two segments waits for the
            // client's delayed ACK: 40 ms per call.
            TcpIncoming::from(admin_listener).with_nodelay(Some(true)),
            fired(signal.clone()),
        );
    // With the peer address, which the sign-in page throttles failures by.
    let http = axum::serve(
        public_listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY was refused on an accepted connection");
            }
        }),
        public_router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(fired(signal.clone()));

    let ops =
        axum::serve(metrics_listener, ops_router).with_graceful_shutdown(fired(signal.clone()));

    let health = control_plane.health;
    let logouts = tokio::spawn(deliverer.run(signal.clone()));
    // 0 turns the schedule off (an operator running `sweep_now` elsewhere, or tests).
    let sweeps = config
        .sweep_interval()
        .map(|every| tokio::spawn(sweeper.clone().run(every, signal.clone())));
    tokio::spawn(changes.run(fired(signal.clone())));
    let task = tokio::spawn(async move {
        let grpc = tokio::spawn(grpc);
        let http = tokio::spawn(async move { http.await });
        let ops = tokio::spawn(async move { ops.await });
        let mut signal = signal;
        let _ = signal.wait_for(|stop| *stop).await;
        tracing::info!("shutting down: draining in-flight requests");
        ready.store(false, Ordering::SeqCst);
        keyhaven_admin::set_not_serving(&health).await;
        let drained = tokio::time::timeout(drain_timeout, async {
            if let Ok(Err(err)) = grpc.await {
                tracing::error!(error = %err, "admin listener failed");
            }
            if let Ok(Err(err)) = http.await {
                tracing::error!(error = %err, "public listener failed");
            }
            if let Ok(Err(err)) = ops.await {
                tracing::error!(error = %err, "operations listener failed");
            }
            let _ = logouts.await;
            if let Some(sweeps) = sweeps {
                let _ = sweeps.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?drain_timeout, "drain timeout reached; closing remaining connections");
        }
        store.close().await;
        tracing::info!("stopped");
    });

    tracing::info!(%admin_addr, %public_addr, %metrics_addr, %public_url, "keyhaven is serving");
    Ok(Running {
        admin_addr,
        public_addr,
        metrics_addr,
        public_url,
        bootstrap,
        shutdown,
        task,
        sweeper,
    })
}

async fn fired(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
