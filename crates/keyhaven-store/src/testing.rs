//! What the store's own tests start from: a migrated SQLite file with an organization
//! and tenants in it.

use keyhaven_core::model::Tenant;
use keyhaven_core::{DisplayName, EnvironmentSet, SecretKind, SecretToken, Slug, Timestamp};

use crate::tenants::NewTenant;
use crate::{Audit, Store, organizations, tenants};

pub(crate) const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

pub(crate) struct Database {
    pub url: String,
    pub store: Store,
    pub audit: Audit,
    pub tenants: Vec<Tenant>,
    /// Holds the database file.
    pub dir: tempfile::TempDir,
}

/// A fresh database with the organization `default` and one tenant per slug.
pub(crate) async fn with_tenants(slugs: &[&str]) -> Database {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let token = SecretToken::from_entropy(SecretKind::ManagementToken, [1; 32]);
    let org = match organizations::bootstrap(
        &store,
        &Slug::parse("default").expect("slug"),
        "Default",
        token.digest(),
        NOW,
    )
    .await
    .expect("bootstrap")
    {
        organizations::Bootstrap::Created { organization } => organization,
        organizations::Bootstrap::AlreadyInitialised => unreachable!("fresh database"),
    };
    let audit = Audit {
        organization_id: org.id,
        actor: "test".into(),
        action: "test",
        now: NOW,
    };
    let mut tenants = Vec::new();
    for slug in slugs {
        tenants.push(
            tenants::create(&store, &audit, new_tenant(slug), None)
                .await
                .expect("tenant")
                .into_inner(),
        );
    }
    Database {
        url,
        store,
        audit,
        tenants,
        dir,
    }
}

/// A tenant `slug` without signing keys.
pub(crate) fn new_tenant(slug: &str) -> NewTenant {
    NewTenant {
        id: tenants::new_id(),
        slug: Slug::parse(slug).expect("slug"),
        display_name: DisplayName::parse(slug).expect("name"),
        environments: EnvironmentSet::all(),
        lifetimes: Default::default(),
        signing_keys: vec![],
    }
}
