//! The test harness: a real Keyhaven on ephemeral ports over a fresh database (SQLite
//! file, or a new PostgreSQL database when `KEYHAVEN_TEST_DATABASE_URL` is set), with
//! authenticated gRPC clients and a clock the test moves by hand.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use keyhaven_core::{Clock, SystemClock, Timestamp};
use keyhaven_proto::admin::v1 as pb;
use keyhaven_server::{Config, Dependencies, Running};
use sea_orm::ConnectionTrait;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use keyhaven_proto::admin::v1 as proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const DATABASE_URL_VAR: &str = "KEYHAVEN_TEST_DATABASE_URL";

impl Backend {
    /// Whether this backend can run here. PostgreSQL runs when
    /// `KEYHAVEN_TEST_DATABASE_URL` is set; under `CI=true` its absence is a failure,
    /// so CI cannot pass by skipping the second backend.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => {
                let set = std::env::var(DATABASE_URL_VAR).is_ok_and(|v| !v.is_empty());
                if !set && std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{DATABASE_URL_VAR} must be set when CI=true");
                }
                set
            }
        }
    }
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::Backend::Postgres.available() {
                        super::$name($crate::Backend::Postgres).await
                    } else {
                        eprintln!("{} unset: PostgreSQL variant not run", $crate::DATABASE_URL_VAR);
                    }
                }
            )*
        }
    };
}

/// Assertions on the answers of gRPC calls, shared by the end-to-end modules.
pub mod assert {
    use std::fmt::Debug;

    use tonic::{Code, Status};
    use tonic_types::StatusExt;

    /// The code a call answered with: `Code::Ok` for a success.
    pub fn code<T>(result: &Result<T, Status>) -> Code {
        result.as_ref().err().map_or(Code::Ok, Status::code)
    }

    /// Refused with `code`; returns the status for further checks.
    #[track_caller]
    pub fn refused<T: Debug>(result: Result<T, Status>, code: Code) -> Status {
        match result {
            Ok(value) => panic!("expected {code:?}, got success: {value:?}"),
            Err(status) => {
                assert_eq!(status.code(), code, "{status:?}");
                status
            }
        }
    }

    /// The `(field, description)` pairs of an INVALID_ARGUMENT status, in the order given.
    #[track_caller]
    pub fn violations(status: &Status) -> Vec<(String, String)> {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status
            .get_details_bad_request()
            .expect("INVALID_ARGUMENT carries a google.rpc.BadRequest")
            .field_violations
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect()
    }

    /// INVALID_ARGUMENT with a `BadRequest` violation on `field` whose description contains
    /// `rule`.
    #[track_caller]
    pub fn violation<T: Debug>(result: Result<T, Status>, field: &str, rule: &str) {
        let status = refused(result, Code::InvalidArgument);
        let violations = violations(&status);
        assert!(
            violations
                .iter()
                .any(|(f, d)| f == field && d.contains(rule)),
            "expected a violation on {field} explaining {rule:?}; got {violations:?}"
        );
    }
}

/// A clock that only moves when the test says so.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Where a test's data lives; kept across restarts of the server within one test.
pub struct Database {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl Database {
    pub async fn fresh(backend: Backend) -> Database {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Database {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("keyhaven.db").display()
                ),
                dir,
                postgres: None,
            },
            Backend::Postgres => {
                let base = std::env::var(DATABASE_URL_VAR).expect("checked by available()");
                let name = format!("kh_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Database {
                    url: with_database(&base, &name),
                    dir,
                    postgres: Some((base, name)),
                }
            }
        }
    }

    async fn connect(url: &str) -> sea_orm::DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(1).sqlx_logging(false);
        sea_orm::Database::connect(options)
            .await
            .expect("connect to the test database server")
    }

    pub async fn drop_database(self) {
        if let Some((base, name)) = &self.postgres {
            let admin = Database::connect(base).await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = base
        .split_once('?')
        .map_or((base, None), |(b, q)| (b, Some(q)));
    let prefix = match without_query.rfind('/') {
        Some(i) if i > "postgres://".len() => &without_query[..i],
        _ => without_query,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A running Keyhaven and what a test needs to talk to it.
pub struct TestApp {
    pub running: Running,
    pub database: Database,
    pub clock: Arc<TestClock>,
    pub admin_url: String,
    pub public_url: String,
    /// The organization token written by the first-start bootstrap.
    pub root_token: String,
    channel: Channel,
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let database = Database::fresh(backend).await;
        TestApp::start_on(database, TestApp::spawn_clock(), None).await
    }

    /// A test clock starting at the real time.
    pub fn spawn_clock() -> Arc<TestClock> {
        Arc::new(TestClock(AtomicI64::new(SystemClock.now().unix_millis())))
    }

    /// Starts a server on an existing database (a restart, or a second replica).
    pub async fn start_on(
        database: Database,
        clock: Arc<TestClock>,
        bootstrap_token: Option<String>,
    ) -> TestApp {
        let config = Config {
            data_dir: database.data_dir().to_path_buf(),
            database_url: Some(database.url.clone()),
            admin_addr: "127.0.0.1:0".parse().expect("addr"),
            public_addr: "127.0.0.1:0".parse().expect("addr"),
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            bootstrap_token,
            drain_timeout_seconds: 10,
            // Tests sweep on demand (`Running::sweep_now`), never behind their back.
            sweep_interval_seconds: 0,
            ..Config::default()
        };
        TestApp::start_with(config, database, clock).await
    }

    async fn start_with(config: Config, database: Database, clock: Arc<TestClock>) -> TestApp {
        keyhaven_server::telemetry::init_for_tests();
        let deps = Dependencies {
            clock: clock.clone(),
            ..Dependencies::default()
        };
        let running = keyhaven_server::start(&config, deps)
            .await
            .expect("keyhaven starts");
        let admin_url = format!("http://{}", running.admin_addr);
        let channel = Channel::from_shared(admin_url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect to the admin listener");
        let token_file = database
            .data_dir()
            .join(keyhaven_server::bootstrap::TOKEN_FILE);
        let root_token = std::fs::read_to_string(&token_file)
            .map(|t| t.trim().to_owned())
            .unwrap_or_else(|_| config.bootstrap_token.clone().unwrap_or_default());
        TestApp {
            public_url: running.public_url.clone(),
            running,
            database,
            clock,
            admin_url,
            root_token,
            channel,
        }
    }

    /// A second replica on the same database, as a deployment runs them: its own data
    /// directory and listeners, the configured key-encryption key and public URL of the
    /// first (replicas share them: the key opens the signing keys, the URL is the
    /// issuer), the same clock. Its `public_url` is its own listener, where the test
    /// reaches it. Stopping it leaves the database to the first.
    pub async fn start_replica(&self) -> TestApp {
        let kek = std::fs::read_to_string(
            self.database
                .data_dir()
                .join(keyhaven_server::kek::KEK_FILE),
        )
        .expect("the first replica's key-encryption key");
        let database = Database {
            url: self.database.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        };
        let config = Config {
            data_dir: database.data_dir().to_path_buf(),
            database_url: Some(database.url.clone()),
            admin_addr: "127.0.0.1:0".parse().expect("addr"),
            public_addr: "127.0.0.1:0".parse().expect("addr"),
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            key_encryption_key: Some(kek.trim().to_owned()),
            // Replicas sit behind one public URL: the issuer is the same at each.
            public_url: Some(self.public_url.clone()),
            drain_timeout_seconds: 10,
            // Tests sweep on demand (`Running::sweep_now`), never behind their back.
            sweep_interval_seconds: 0,
            ..Config::default()
        };
        let mut replica = TestApp::start_with(config, database, self.clock.clone()).await;
        replica.root_token = self.root_token.clone();
        // The test reaches this replica on its own listener, as the load balancer would.
        replica.public_url = format!("http://{}", replica.running.public_addr);
        replica
    }

    /// Two replicas started at the same moment on a fresh database, as a deployment's
    /// first rollout does: both must migrate it (once) and bootstrap it (once). They
    /// share the key-encryption key, the bootstrap token and the public URL, as their
    /// manifests would give them.
    pub async fn start_together(backend: Backend) -> (TestApp, TestApp) {
        let first = Database::fresh(backend).await;
        let second = Database {
            url: first.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        };
        let kek = keyhaven_core::kek::KeyEncryptionKey::from_bytes(rand_bytes()).to_base64url();
        let bootstrap = format!("khm_{}", uuid::Uuid::new_v4().simple());
        // The public URL must be known before either listener is bound: a fixed
        // placeholder, since the tests reach each replica on its own listener.
        let config = |database: &Database| Config {
            data_dir: database.data_dir().to_path_buf(),
            database_url: Some(database.url.clone()),
            admin_addr: "127.0.0.1:0".parse().expect("addr"),
            public_addr: "127.0.0.1:0".parse().expect("addr"),
            public_url: Some("http://keyhaven.test".to_owned()),
            key_encryption_key: Some(kek.clone()),
            bootstrap_token: Some(bootstrap.clone()),
            drain_timeout_seconds: 10,
            sweep_interval_seconds: 0,
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            ..Config::default()
        };
        let (first_config, second_config) = (config(&first), config(&second));
        let clock = TestApp::spawn_clock();
        let (mut a, mut b) = tokio::join!(
            TestApp::start_with(first_config, first, clock.clone()),
            TestApp::start_with(second_config, second, clock.clone()),
        );
        for replica in [&mut a, &mut b] {
            replica.root_token = bootstrap.clone();
            replica.public_url = format!("http://{}", replica.running.public_addr);
        }
        (a, b)
    }

    /// Stops the server and keeps the database, for a restart.
    pub async fn stop_keeping_data(self) -> (Database, Arc<TestClock>) {
        self.running.stop().await;
        (self.database, self.clock)
    }

    pub async fn stop(self) {
        self.running.stop().await;
        self.database.drop_database().await;
    }

    /// Where the operations listener serves Prometheus metrics.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.running.metrics_addr)
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    fn bearer(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("ascii token")))
    }

    pub fn tenants(
        &self,
        token: Option<&str>,
    ) -> pb::tenant_service_client::TenantServiceClient<Authed> {
        pb::tenant_service_client::TenantServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn applications(
        &self,
        token: Option<&str>,
    ) -> pb::application_service_client::ApplicationServiceClient<Authed> {
        pb::application_service_client::ApplicationServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn tokens(
        &self,
        token: Option<&str>,
    ) -> pb::management_token_service_client::ManagementTokenServiceClient<Authed> {
        pb::management_token_service_client::ManagementTokenServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn organizations(
        &self,
        token: Option<&str>,
    ) -> pb::organization_service_client::OrganizationServiceClient<Authed> {
        pb::organization_service_client::OrganizationServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn audit(
        &self,
        token: Option<&str>,
    ) -> pb::audit_service_client::AuditServiceClient<Authed> {
        pb::audit_service_client::AuditServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn users(&self, token: Option<&str>) -> pb::user_service_client::UserServiceClient<Authed> {
        pb::user_service_client::UserServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn signing_keys(
        &self,
        token: Option<&str>,
    ) -> pb::signing_key_service_client::SigningKeyServiceClient<Authed> {
        pb::signing_key_service_client::SigningKeyServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn sessions(
        &self,
        token: Option<&str>,
    ) -> pb::session_service_client::SessionServiceClient<Authed> {
        pb::session_service_client::SessionServiceClient::with_interceptor(
            self.channel(),
            Self::bearer(token),
        )
    }

    pub fn root(&self) -> Option<&str> {
        Some(self.root_token.as_str())
    }

    /// Creates a tenant with the root token.
    pub async fn create_tenant(&self, slug: &str) -> pb::Tenant {
        self.tenants(self.root())
            .create_tenant(pb::CreateTenantRequest {
                tenant: Some(pb::Tenant {
                    slug: slug.to_owned(),
                    display_name: format!("Tenant {slug}"),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("create tenant")
            .into_inner()
    }

    /// Creates an application with the root token; returns it and its secret.
    pub async fn create_app(
        &self,
        tenant: &str,
        app_type: pb::ApplicationType,
    ) -> (pb::Application, String) {
        let response = self
            .applications(self.root())
            .create_application(pb::CreateApplicationRequest {
                parent: format!("tenants/{tenant}"),
                application: Some(pb::Application {
                    display_name: "Test app".to_owned(),
                    r#type: app_type as i32,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("create application")
            .into_inner();
        (
            response.application.expect("application"),
            response.client_secret,
        )
    }

    /// Creates a management token under `parent` with the root token.
    pub async fn create_token(
        &self,
        parent: &str,
        permissions: &[&str],
        expire_time: Option<prost_types::Timestamp>,
    ) -> (pb::ManagementToken, String) {
        let response = self
            .tokens(self.root())
            .create_management_token(pb::CreateManagementTokenRequest {
                parent: parent.to_owned(),
                management_token: Some(pb::ManagementToken {
                    display_name: "test token".to_owned(),
                    permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                    expire_time,
                    ..Default::default()
                }),
            })
            .await
            .expect("create management token")
            .into_inner();
        (response.management_token.expect("token"), response.token)
    }
}

/// The number of rows in every table, for tests that prove a call wrote nothing.
pub async fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    use sea_orm::{DbBackend, Statement};
    let db = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    let list = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    let tables = db
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .expect("tables");
    let mut counts = Vec::new();
    for row in tables {
        let name: String = row.try_get("", "name").expect("name");
        let count = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM \"{name}\""),
            ))
            .await
            .expect("count")
            .expect("row");
        counts.push((name, count.try_get::<i64>("", "n").expect("n")));
    }
    db.close().await.ok();
    counts
}
