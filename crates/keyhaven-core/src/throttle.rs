//! Failed sign-in throttling (design.md §6): how many failed sign-ins a username and a
//! client address may have before they must wait, and for how long. The counters live in
//! the store; this module only decides, from a counter and the time it is handed.
//!
//! The shape is that of Keycloak's temporary lockout: failures are forgotten after a quiet
//! period; past a limit, each failure locks the key for a wait that grows (here, doubles)
//! up to a cap. Never a permanent lock, which anyone could inflict on a known username.
//! It is applied twice:
//! - per **username typed**, normalised as [`Username`] does: a password cannot be guessed
//!   slowly from many addresses. The typed name is the key, not the user it names, so an
//!   unknown username is throttled exactly like a known one and the answers still do not
//!   tell them apart;
//! - per **client address** (an IPv6 address as its /64, which one subscriber usually
//!   holds whole): one address cannot spray a few passwords over many usernames. The
//!   limit is higher because offices and carrier-grade NAT put many people behind one
//!   address.
//!
//! An attempt is counted when it is *admitted*, before the password is verified, and is
//! handed back when the sign-in succeeds. Counting only after a failed verification would
//! let a burst of concurrent requests all pass the check before the first of them had
//! failed: a parallel brute force limited only by the argon2 pool.
//!
//! Keys are stored as SHA-256 digests of their text: fixed length, indexable, and a
//! password typed into the username field by mistake is not kept readable. (A digest of an
//! IPv4 address or a common username is easily reversed; this is not anonymisation.)

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::username::Username;

/// How many failures a key may have and what it costs past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The failure that reaches this count locks the key for `first_lock`.
    pub limit: u32,
    /// The first wait; each further failure doubles it.
    pub first_lock: Duration,
    /// The longest wait. At the cap, one guess per `max_lock` is all that is left.
    pub max_lock: Duration,
    /// Failures are forgotten after this long without one. At least `max_lock`, so that a
    /// key is never forgotten while it is still locked.
    pub forget_after: Duration,
}

/// Per username typed: 5 failures, then 30 s, 60 s, ... up to 15 min. A person who
/// mistypes a few times waits half a minute; an attacker gets about 100 guesses a day at
/// one username (the order of NIST SP 800-63B §5.2.2's 100 consecutive failures, without
/// its permanent lock); whoever locks a username out keeps its owner waiting 15 min at
/// most per lock.
pub const PER_USERNAME: Policy = Policy {
    limit: 5,
    first_lock: Duration::from_secs(30),
    max_lock: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(60 * 60),
};

/// Per client address: 20 failures, then the same doubling waits. Enough for a busy
/// office's typos within an hour, few enough that spraying one password over many
/// usernames from one address is slow.
pub const PER_ADDRESS: Policy = Policy {
    limit: 20,
    first_lock: Duration::from_secs(30),
    max_lock: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(60 * 60),
};

// Checked by the compiler: no key is forgotten while it is still locked, waits grow
// from the first to the cap, and an address allows more failures than one username.
const _: () = assert!(
    consistent(&PER_USERNAME) && consistent(&PER_ADDRESS) && PER_ADDRESS.limit > PER_USERNAME.limit
);

const fn consistent(policy: &Policy) -> bool {
    policy.limit > 0
        && policy.first_lock.as_millis() <= policy.max_lock.as_millis()
        && policy.max_lock.as_millis() <= policy.forget_after.as_millis()
}

impl Policy {
    /// The wait imposed by the failure that brings the count to `failures`: none below the
    /// limit, then `first_lock` doubled for each failure past it, at most `max_lock`.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let past_limit = failures.checked_sub(self.limit)?;
        let factor = 1u32.checked_shl(past_limit).unwrap_or(u32::MAX);
        Some(
            self.first_lock
                .checked_mul(factor)
                .map_or(self.max_lock, |lock| lock.min(self.max_lock)),
        )
    }
}

/// What a key's counter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Username,
    Address,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Address => "address",
        }
    }

    pub fn policy(self) -> Policy {
        match self {
            Self::Username => PER_USERNAME,
            Self::Address => PER_ADDRESS,
        }
    }

    /// The `current` counter after the sign-in admitted as `admitted` succeeded; `None` to
    /// forget it. A username's failures are forgotten: its owner has just proved the
    /// password. An address only gets its attempt back: were it reset, an attacker's own
    /// account would wipe the address's failures between guesses at others'.
    pub fn after_success(self, current: &Counter, admitted: &Counter) -> Option<Counter> {
        match self {
            Self::Username => None,
            Self::Address => Some(current.handed_back(&self.policy(), admitted)),
        }
    }
}

/// What failures are counted against: a normalised username or a client address, as
/// the digest that is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    kind: KeyKind,
    digest: String,
}

impl ThrottleKey {
    /// The username as typed on the sign-in page, normalised the way sign-in looks it up:
    /// `Alice` and `alice` are one key. Text that is no valid username is lowercased and
    /// counted all the same: it matches no user, but it is still an attempt.
    pub fn username(typed: &str) -> Self {
        let normalised = Username::parse(typed)
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|_| typed.to_lowercase());
        Self::of(KeyKind::Username, &normalised)
    }

    /// The client's address: IPv4 as it is (an IPv4-mapped IPv6 address is its IPv4), an
    /// IPv6 address as its /64.
    pub fn address(ip: IpAddr) -> Self {
        let text = match ip.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        };
        Self::of(KeyKind::Address, &text)
    }

    fn of(kind: KeyKind, text: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(kind.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { kind, digest }
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// SHA-256 of the kind and the normalised text, in lowercase hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn policy(&self) -> Policy {
        self.kind.policy()
    }
}

/// A key's failures as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Attempts admitted and not handed back by a success, since the counter was last
    /// forgotten.
    pub failures: u32,
    pub last_failure_at: Timestamp,
    pub locked_until: Option<Timestamp>,
}

/// How long a locked key still has to wait, and which kind of key it is (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub kind: KeyKind,
    pub duration: Duration,
}

impl Wait {
    /// Whole seconds, rounded up and at least 1: the value of `Retry-After`.
    pub fn seconds(&self) -> u64 {
        let secs = self.duration.as_secs() + u64::from(self.duration.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// What admitting one attempt against a set of keys came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may go on; `counters` are the keys' new counters, in the order given.
    /// `lock` is the longest wait this attempt imposes should it fail (it reached a limit).
    Admitted {
        counters: Vec<Counter>,
        lock: Option<Wait>,
    },
    /// A key is locked: the attempt is refused before any password is looked at, and
    /// nothing is counted.
    Refused(Wait),
}

impl Counter {
    /// The counter of a key that has never failed.
    pub const NONE: Counter = Counter {
        failures: 0,
        last_failure_at: Timestamp::from_unix_millis(0),
        locked_until: None,
    };

    /// The wait still to run at `now`, if the key is locked.
    pub fn wait(&self, kind: KeyKind, now: Timestamp) -> Option<Wait> {
        let until = self.locked_until?;
        let millis = u64::try_from(until.unix_millis().saturating_sub(now.unix_millis())).ok()?;
        (millis > 0).then(|| Wait {
            kind,
            duration: Duration::from_millis(millis),
        })
    }

    /// The counter after one more attempt at `now`, which counts as a failure until a
    /// success hands it back: the failures so far (none once `forget_after` has passed
    /// since the last), plus one, and the lock the limit imposes.
    pub fn after_attempt(&self, policy: &Policy, now: Timestamp) -> Counter {
        let forgotten = now >= self.last_failure_at.saturating_add(policy.forget_after);
        let failures = if forgotten { 0 } else { self.failures } + 1;
        Counter {
            failures,
            last_failure_at: now,
            // Admitted means any earlier lock has run out: the new count alone decides.
            locked_until: policy
                .lock_for(failures)
                .map(|lock| now.saturating_add(lock)),
        }
    }

    /// The counter after a success hands back the attempt it was admitted as (`admitted`,
    /// the counter that admission wrote): one failure fewer, and no lock that this attempt
    /// made. If the counter is still the one it wrote, any lock is its own (the one before
    /// had run out, or it would not have been admitted); below the limit no lock is left
    /// either. Otherwise concurrent failures were admitted since and their lock stays.
    pub fn handed_back(&self, policy: &Policy, admitted: &Counter) -> Counter {
        let failures = self.failures.saturating_sub(1);
        let lock_was_ours = self == admitted || failures < policy.limit;
        Counter {
            failures,
            last_failure_at: self.last_failure_at,
            locked_until: if lock_was_ours {
                None
            } else {
                self.locked_until
            },
        }
    }
}

/// Admits one attempt against every key or against none: refused with the longest wait
/// if any key is locked at `now`, otherwise every counter counts the attempt.
pub fn admit(keys: &[(KeyKind, Counter)], now: Timestamp) -> Admission {
    if let Some(wait) = longest(keys.iter().filter_map(|(kind, c)| c.wait(*kind, now))) {
        return Admission::Refused(wait);
    }
    let counters: Vec<Counter> = keys
        .iter()
        .map(|(kind, c)| c.after_attempt(&kind.policy(), now))
        .collect();
    let lock = longest(
        keys.iter()
            .zip(&counters)
            .filter_map(|((kind, _), c)| c.wait(*kind, now)),
    );
    Admission::Admitted { counters, lock }
}

/// The longest of some waits.
pub fn longest(waits: impl IntoIterator<Item = Wait>) -> Option<Wait> {
    waits.into_iter().max_by_key(|w| w.duration)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
    const SECOND: Duration = Duration::from_secs(1);

    fn at(seconds: u64) -> Timestamp {
        T0.saturating_add(SECOND * u32::try_from(seconds).expect("small"))
    }

    /// The counter after `n` attempts at `now`, none handed back.
    fn after(n: u32, policy: &Policy, now: Timestamp) -> Counter {
        (0..n).fold(Counter::NONE, |c, _| c.after_attempt(policy, now))
    }

    #[test]
    fn waits_start_at_the_limit_and_double_up_to_the_cap() {
        let waits: Vec<Option<u64>> = (1..=11)
            .map(|n| PER_USERNAME.lock_for(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900)
            ]
        );
        assert_eq!(PER_ADDRESS.lock_for(19), None);
        assert_eq!(PER_ADDRESS.lock_for(20), Some(30 * SECOND));
        assert_eq!(PER_USERNAME.lock_for(u32::MAX), Some(PER_USERNAME.max_lock));
    }

    #[test]
    fn the_attempt_that_reaches_the_limit_locks_the_key_and_the_next_is_refused() {
        let keys = |c: Counter| [(KeyKind::Username, c)];
        let four = after(4, &PER_USERNAME, T0);
        assert_eq!(four.locked_until, None);
        let Admission::Admitted { counters, lock } = admit(&keys(four), T0) else {
            panic!("the fifth attempt is admitted");
        };
        assert_eq!(counters[0].failures, 5);
        assert_eq!(
            lock,
            Some(Wait {
                kind: KeyKind::Username,
                duration: 30 * SECOND
            })
        );
        assert_eq!(
            admit(&keys(counters[0]), at(10)),
            Admission::Refused(Wait {
                kind: KeyKind::Username,
                duration: 20 * SECOND
            })
        );
        let Admission::Admitted { counters, lock } = admit(&keys(counters[0]), at(30)) else {
            panic!("admitted once the wait has run");
        };
        assert_eq!(counters[0].failures, 6);
        assert_eq!(lock.map(|w| w.seconds()), Some(60));
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_hour_but_not_before() {
        let four = after(4, &PER_USERNAME, T0);
        assert_eq!(four.after_attempt(&PER_USERNAME, at(3599)).failures, 5);
        let fresh = four.after_attempt(&PER_USERNAME, at(3600));
        assert_eq!((fresh.failures, fresh.locked_until), (1, None));
        // A lock is forgotten with its failures: it ran out long before.
        let locked = after(10, &PER_USERNAME, T0);
        assert!(locked.locked_until.is_some());
        assert_eq!(
            locked.after_attempt(&PER_USERNAME, at(3600)).locked_until,
            None
        );
    }

    #[test]
    fn one_locked_key_refuses_the_attempt_and_nothing_is_counted() {
        let locked = after(20, &PER_ADDRESS, T0);
        let admission = admit(
            &[
                (KeyKind::Username, Counter::NONE),
                (KeyKind::Address, locked),
            ],
            at(1),
        );
        assert_eq!(
            admission,
            Admission::Refused(Wait {
                kind: KeyKind::Address,
                duration: 29 * SECOND
            })
        );
        let both = admit(
            &[
                (KeyKind::Username, after(9, &PER_USERNAME, T0)),
                (KeyKind::Address, locked),
            ],
            at(1),
        );
        assert_eq!(
            both,
            Admission::Refused(Wait {
                kind: KeyKind::Username,
                duration: 479 * SECOND
            }),
            "the longest wait is the one to announce"
        );
    }

    #[test]
    fn a_success_hands_its_attempt_back_and_lifts_the_lock_it_made() {
        // The twentieth attempt locked the address, then succeeded.
        let twenty = after(20, &PER_ADDRESS, T0);
        assert!(twenty.locked_until.is_some());
        let back = twenty.handed_back(&PER_ADDRESS, &twenty);
        assert_eq!((back.failures, back.locked_until), (19, None));
        // Past the limit (the twentieth lock has run out), the twenty-first succeeded.
        let twenty_first = after(20, &PER_ADDRESS, T0).after_attempt(&PER_ADDRESS, at(30));
        let back = twenty_first.handed_back(&PER_ADDRESS, &twenty_first);
        assert_eq!((back.failures, back.locked_until), (20, None));
    }

    #[test]
    fn a_success_keeps_the_lock_of_failures_admitted_after_it() {
        let ours = after(20, &PER_ADDRESS, T0);
        let theirs = ours.after_attempt(&PER_ADDRESS, at(30));
        let back = theirs.handed_back(&PER_ADDRESS, &ours);
        assert_eq!(back.failures, 20);
        assert_eq!(back.locked_until, theirs.locked_until, "their lock stays");
        // Unless one failure fewer is below the limit: then no lock is due.
        let ours = after(19, &PER_ADDRESS, T0);
        let theirs = ours.after_attempt(&PER_ADDRESS, at(1));
        assert!(theirs.locked_until.is_some());
        assert_eq!(theirs.handed_back(&PER_ADDRESS, &ours).locked_until, None);
        assert_eq!(
            Counter::NONE
                .handed_back(&PER_ADDRESS, &Counter::NONE)
                .failures,
            0
        );
    }

    #[test]
    fn a_success_forgets_the_username_but_only_hands_the_address_its_attempt_back() {
        let nine = after(9, &PER_USERNAME, T0);
        assert_eq!(KeyKind::Username.after_success(&nine, &nine), None);
        let five = after(5, &PER_ADDRESS, T0);
        assert_eq!(
            KeyKind::Address
                .after_success(&five, &five)
                .map(|c| c.failures),
            Some(4)
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let wait = |millis| Wait {
            kind: KeyKind::Username,
            duration: Duration::from_millis(millis),
        };
        assert_eq!(wait(30_000).seconds(), 30);
        assert_eq!(wait(29_001).seconds(), 30);
        assert_eq!(wait(1).seconds(), 1);
        assert_eq!(wait(0).seconds(), 1);
        let locked = Counter {
            locked_until: Some(at(30)),
            ..Counter::NONE
        };
        assert_eq!(locked.wait(KeyKind::Username, at(30)), None);
        assert_eq!(locked.wait(KeyKind::Username, at(31)), None);
    }

    #[test]
    fn usernames_are_keyed_as_sign_in_looks_them_up() {
        assert_eq!(
            ThrottleKey::username("Alice"),
            ThrottleKey::username("alice")
        );
        assert_ne!(ThrottleKey::username("alice"), ThrottleKey::username("bob"));
        assert_eq!(
            ThrottleKey::username("Not A Name!"),
            ThrottleKey::username("not a name!")
        );
        let key = ThrottleKey::username("alice");
        assert_eq!(key.kind(), KeyKind::Username);
        assert_eq!(key.digest().len(), 64);
        assert!(!key.digest().contains("alice"));
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_and_by_ipv6_slash_64() {
        let v4 = |a, b, c, d| ThrottleKey::address(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        let v6 = |text: &str| ThrottleKey::address(text.parse::<Ipv6Addr>().expect("v6").into());
        assert_ne!(v4(192, 0, 2, 1), v4(192, 0, 2, 2));
        assert_eq!(v4(192, 0, 2, 1), v6("::ffff:192.0.2.1"));
        assert_eq!(
            v6("2001:db8:1:2::1"),
            v6("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_ne!(
            ThrottleKey::username("192.0.2.1").digest(),
            v4(192, 0, 2, 1).digest(),
            "a username never shares a counter with an address"
        );
        assert_eq!(v4(192, 0, 2, 1).kind(), KeyKind::Address);
    }
}
