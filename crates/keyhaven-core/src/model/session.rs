use crate::ids::TenantId;
use crate::time::Timestamp;

/// A browser session at a tenant: who signed in, when and how. Its id is the `sid` of
/// the tokens issued in it; the browser holds a separate secret (the session cookie),
/// because a `sid` travels in ID tokens and must not be enough to act as the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: Timestamp,
    /// Authentication methods (RFC 8176), such as `pwd`.
    pub amr: Vec<String>,
    /// The absolute end: sign-in plus the tenant's absolute session lifetime.
    pub expires_at: Timestamp,
    /// The idle end, pushed back (never past `expires_at`) each time the session is
    /// used; `None` for sessions from before idle lifetimes existed.
    pub idle_expires_at: Option<Timestamp>,
    /// The device the session was started on, when the client named one (`x-device-id`).
    pub device_id: Option<String>,
    /// Set by sign-out; an ended session is never live again.
    pub ended_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Session {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.ended_at.is_none()
            && now < self.expires_at
            && self.idle_expires_at.is_none_or(|idle| now < idle)
    }

    /// The idle end of a session used at `now`.
    pub fn idle_end(now: Timestamp, idle: std::time::Duration, expires_at: Timestamp) -> Timestamp {
        now.saturating_add(idle).min(expires_at)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_session_lives_until_its_idle_or_absolute_end_or_until_it_is_ended() {
        let t =
            |s: u64| Timestamp::from_unix_millis(1_000_000).saturating_add(Duration::from_secs(s));
        let session = Session {
            id: "s".into(),
            tenant_id: TenantId::new("t"),
            user_id: "u".into(),
            auth_time: t(0),
            amr: vec![],
            expires_at: t(100),
            idle_expires_at: Some(t(30)),
            device_id: None,
            ended_at: None,
            created_at: t(0),
        };
        assert!(session.is_live(t(29)));
        assert!(!session.is_live(t(30)), "idle");
        let used = Session {
            idle_expires_at: Some(Session::idle_end(t(29), Duration::from_secs(30), t(100))),
            ..session.clone()
        };
        assert!(used.is_live(t(58)));
        assert_eq!(
            Session::idle_end(t(90), Duration::from_secs(30), t(100)),
            t(100),
            "never past the absolute end"
        );
        assert!(!used.is_live(t(59)), "idle again");
        let legacy = Session {
            idle_expires_at: None,
            ..session.clone()
        };
        assert!(legacy.is_live(t(99)));
        assert!(!legacy.is_live(t(100)), "absolute");
        let ended = Session {
            ended_at: Some(t(1)),
            ..session
        };
        assert!(!ended.is_live(t(2)));
    }
}
