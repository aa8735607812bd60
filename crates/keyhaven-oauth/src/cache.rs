//! What every public request would otherwise read from the database: the tenant by slug,
//! with its parsed keys once a request has needed them (`keys`), and the client with its
//! live secret digests and redirect URIs.
//!
//! Freshness: the control plane announces every change of these
//! (`keyhaven_store::changes`), and [`follow_changes`] drops the affected entries. In the
//! process that made the change this happens before the change is acknowledged; other
//! replicas on PostgreSQL hear it by LISTEN/NOTIFY within milliseconds (and clear
//! everything while that connection is down); a server on SQLite reads what the CLI
//! changed from the change log within a second. So [`TTL`] is only the last resort
//! against a change made behind Keyhaven's back, and long: a short one made every
//! cached tenant cost database reads and key parsing every few seconds, which is what
//! kept a random tenant of thousands well below the rate of one.
//!
//! Size: each map holds at most a fixed number of entries (see the constants); when full,
//! expired entries go first, then an arbitrary eighth, so a scan over many tenants costs
//! database reads but never memory. Unknown slugs and client ids are remembered in
//! separate, smaller maps, so requests for garbage names cannot evict the real ones.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{Application, RegisteredRedirectUri, Tenant};
use keyhaven_core::{ClientId, SecretDigest, Slug, TenantId, Timestamp};
use keyhaven_store::changes::Change;
use keyhaven_store::{Store, applications, redirect_uris, tenants};

use crate::error::OAuthError;
use crate::keys::{KeySlot, TenantKeys};

/// The longest an entry is served before it is read again, whatever was announced.
/// Each key expires up to a tenth earlier, by a fixed amount of its own, so entries
/// loaded together (a warm-up, a restart) are not all read again in the same second.
pub const TTL: Duration = Duration::from_secs(300);

pub const MAX_TENANTS: usize = 20_000;
pub const MAX_CLIENTS: usize = 60_000;
pub const MAX_UNKNOWN: usize = 4_096;

/// A map of at most `capacity` entries, each good until its own deadline by the
/// injected clock.
///
/// An entry loaded from a read that started before an invalidation must not be
/// stored after it (it would bring the old row back), so a loader takes a
/// [`Ticket`] before reading and [`Bounded::insert`] ignores stale tickets.
pub struct Bounded<K, V> {
    entries: RwLock<HashMap<K, Entry<V>>>,
    capacity: usize,
    generation: AtomicU64,
}

struct Entry<V> {
    value: V,
    loaded_at: Timestamp,
    expires_at: Timestamp,
}

/// Taken before a database read whose result may be cached.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &K, now: Timestamp) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| e.is_fresh(now))
            .map(|e| e.value.clone())
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `value` until `expires_at` or [`TTL`] (less its key's jitter) from `now`,
    /// whichever comes first.
    pub fn insert(
        &self,
        ticket: Ticket,
        key: K,
        value: V,
        now: Timestamp,
        expires_at: Option<Timestamp>,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let ttl_end = now.saturating_add(TTL - jitter(entries.hasher().hash_one(&key)));
        let expires_at = expires_at.map_or(ttl_end, |e| e.min(ttl_end));
        // Checked under the lock that invalidations take, so none slips in between.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| e.is_fresh(now));
            if entries.len() >= self.capacity {
                let evict = (entries.len() + 1 - self.capacity).max(self.capacity / 8);
                // HashMap order is arbitrary: cheap, and fair enough without usage tracking.
                let mut seen = 0;
                entries.retain(|_, _| {
                    seen += 1;
                    seen > evict
                });
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                loaded_at: now,
                expires_at,
            },
        );
    }

    pub fn remove(&self, key: &K) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    pub fn remove_where(&self, mut doomed: impl FnMut(&K, &V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|k, e| !doomed(k, &e.value));
    }

    pub fn clear(&self) {
        self.remove_where(|_, _| true);
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Up to a tenth of [`TTL`], spread by a hash of the key.
fn jitter(hash: u64) -> Duration {
    let spread = u64::try_from(TTL.as_millis() / 10).unwrap_or(u64::MAX);
    Duration::from_millis(hash % spread.max(1))
}

impl<V> Entry<V> {
    /// A clock that went back past the load also makes an entry stale.
    fn is_fresh(&self, now: Timestamp) -> bool {
        self.loaded_at <= now && now < self.expires_at
    }
}

/// A tenant as the cache holds it: the row, which it dereferences to (requests only read
/// it), and the tenant's keys.
pub struct CachedTenant {
    tenant: Tenant,
    keys: KeySlot,
}

impl Deref for CachedTenant {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.tenant
    }
}

impl CachedTenant {
    /// The tenant's keys, read and kept by the first request that needs them.
    pub async fn keys(&self, store: &Store, now: Timestamp) -> Result<Arc<TenantKeys>, OAuthError> {
        self.keys.get(store, &self.tenant, now).await
    }
}

/// Tenants by slug.
pub struct TenantCache {
    /// Opens the sealed private keys of every tenant.
    kek: Arc<KeyEncryptionKey>,
    known: Bounded<Slug, Arc<CachedTenant>>,
    unknown: Bounded<Slug, ()>,
}

impl TenantCache {
    pub fn new(kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            kek,
            known: Bounded::new(MAX_TENANTS),
            unknown: Bounded::new(MAX_UNKNOWN),
        }
    }

    pub async fn find(
        &self,
        store: &Store,
        slug: &Slug,
        now: Timestamp,
    ) -> Result<Option<Arc<CachedTenant>>, OAuthError> {
        if let Some(tenant) = self.known.get(slug, now) {
            return Ok(Some(tenant));
        }
        if self.unknown.get(slug, now).is_some() {
            return Ok(None);
        }
        let (known, unknown) = (self.known.ticket(), self.unknown.ticket());
        match tenants::find_by_slug(store, slug).await? {
            Some(tenant) => {
                let tenant = Arc::new(CachedTenant {
                    tenant,
                    keys: KeySlot::new(self.kek.clone()),
                });
                self.known
                    .insert(known, slug.clone(), tenant.clone(), now, None);
                Ok(Some(tenant))
            }
            None => {
                self.unknown.insert(unknown, slug.clone(), (), now, None);
                Ok(None)
            }
        }
    }

    fn forget(&self, slug: &Slug) {
        self.known.remove(slug);
        self.unknown.remove(slug);
    }

    /// The tenant's entry, keys and all: a scan of the map, which only a change of a
    /// tenant's keys needs (the change names the tenant by id).
    fn forget_keys_of(&self, tenant: &TenantId) {
        self.known.remove_where(|_, cached| cached.id == *tenant);
    }
}

/// An application with the digests of the secrets that authenticate it and the URIs
/// it may send the browser back to.
pub struct CachedClient {
    /// Shared with each request that authenticates as it, which only reads it.
    pub app: Arc<Application>,
    pub secrets: Vec<SecretDigest>,
    pub redirect_uris: Vec<RegisteredRedirectUri>,
}

type ClientKey = (TenantId, ClientId);

/// Applications by tenant and client id, with their live secrets and redirect URIs.
pub struct ClientCache {
    known: Bounded<ClientKey, Arc<CachedClient>>,
    unknown: Bounded<ClientKey, ()>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self {
            known: Bounded::new(MAX_CLIENTS),
            unknown: Bounded::new(MAX_UNKNOWN),
        }
    }
}

impl ClientCache {
    pub async fn find(
        &self,
        store: &Store,
        tenant: &TenantId,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Option<Arc<CachedClient>>, OAuthError> {
        let key = (tenant.clone(), client_id.clone());
        if let Some(client) = self.known.get(&key, now) {
            return Ok(Some(client));
        }
        if self.unknown.get(&key, now).is_some() {
            return Ok(None);
        }
        let (known, unknown) = (self.known.ticket(), self.unknown.ticket());
        let Some(app) = applications::get(store, tenant, client_id).await? else {
            self.unknown.insert(unknown, key, (), now, None);
            return Ok(None);
        };
        let live = applications::live_secrets_until(store, tenant, &app.id, now).await?;
        let redirect_uris = redirect_uris::all(store, tenant, &app.id).await?;
        // A secret in its grace period stops at its own deadline, not at the TTL.
        let first_end = live.iter().filter_map(|(_, until)| *until).min();
        let client = Arc::new(CachedClient {
            app: Arc::new(app),
            secrets: live.into_iter().map(|(digest, _)| digest).collect(),
            redirect_uris,
        });
        self.known
            .insert(known, key, client.clone(), now, first_end);
        Ok(Some(client))
    }

    /// Every client of `tenant`: a scan of the map, which only tenant changes need.
    fn forget_tenant(&self, tenant: &TenantId) {
        self.known.remove_where(|(t, _), _| t == tenant);
        self.unknown.remove_where(|(t, _), _| t == tenant);
    }

    fn forget(&self, key: &ClientKey) {
        self.known.remove(key);
        self.unknown.remove(key);
    }
}

/// Drops what each change makes stale, in every cache of the public runtime.
pub fn follow_changes(store: &Store, tenants: Arc<TenantCache>, clients: Arc<ClientCache>) {
    store.changes().subscribe(move |change| match change {
        Change::Tenant { id, slug } => {
            tenants.forget(slug);
            clients.forget_tenant(id);
        }
        Change::Application { tenant, client_id } => {
            clients.forget(&(tenant.clone(), client_id.clone()));
        }
        Change::SigningKeys { tenant } => tenants.forget_keys_of(tenant),
        Change::Everything => {
            tenants.known.clear();
            tenants.unknown.clear();
            clients.known.clear();
            clients.unknown.clear();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_millis(seconds * 1000)
    }

    #[test]
    fn entries_expire_after_the_ttl_or_their_own_deadline() {
        let ttl = i64::try_from(TTL.as_secs()).unwrap();
        let cache = Bounded::new(10);
        cache.insert(cache.ticket(), "a", 1, at(100), None);
        cache.insert(cache.ticket(), "b", 2, at(100), Some(at(102)));
        assert_eq!(cache.get(&"a", at(100 + ttl * 9 / 10 - 1)), Some(1));
        assert_eq!(cache.get(&"b", at(101)), Some(2));
        assert_eq!(cache.get(&"b", at(102)), None);
        assert_eq!(cache.get(&"a", at(100 + ttl)), None);
        assert_eq!(cache.get(&"a", at(99)), None, "the clock went back");
    }

    #[test]
    fn entries_loaded_together_expire_spread_over_a_tenth_of_the_ttl() {
        let cache = Bounded::new(1000);
        for key in 0..1000 {
            cache.insert(cache.ticket(), key, (), at(0), None);
        }
        let ttl = i64::try_from(TTL.as_secs()).unwrap();
        let alive = |second| {
            (0..1000)
                .filter(|k| cache.get(k, at(second)).is_some())
                .count()
        };
        assert_eq!(alive(ttl * 9 / 10 - 1), 1000);
        let halfway = alive(ttl * 19 / 20);
        assert!(
            (300..700).contains(&halfway),
            "{halfway} of 1000 left halfway"
        );
        assert_eq!(alive(ttl), 0);
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_stored() {
        let cache = Bounded::new(10);
        let ticket = cache.ticket();
        cache.remove(&"a");
        cache.insert(ticket, "a", 1, at(100), None);
        assert_eq!(cache.get(&"a", at(100)), None);
        cache.insert(cache.ticket(), "a", 1, at(100), None);
        assert_eq!(cache.get(&"a", at(100)), Some(1));
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = Bounded::new(64);
        for i in 0..1000 {
            cache.insert(cache.ticket(), i, i, at(100), None);
            assert!(cache.len() <= 64);
        }
        assert_eq!(cache.get(&999, at(100)), Some(999));
    }
}
