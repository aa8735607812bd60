use std::time::Duration;

/// How long the tokens and the SSO sessions of a tenant live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub access_token: Duration,
    pub id_token: Duration,
    pub refresh_token: Duration,
    /// A session unused for this long ends (used: an authorization served from it).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however much it is used.
    pub session_absolute: Duration,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token: Duration::from_secs(10 * MINUTE),
            id_token: Duration::from_secs(HOUR),
            refresh_token: Duration::from_secs(30 * DAY),
            session_idle: Duration::from_secs(8 * HOUR),
            session_absolute: Duration::from_secs(DAY),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between {min} and {max} seconds (got {got})")]
pub struct LifetimeError {
    min: u64,
    max: u64,
    got: i64,
}

impl TokenLifetimes {
    /// The longest access token lifetime a tenant may set: what a revocation of an access
    /// token of unknown lifetime must cover.
    pub const MAX_ACCESS_TOKEN: Duration = Duration::from_secs(DAY);

    pub fn access_token(seconds: i64) -> Result<Duration, LifetimeError> {
        bounded(seconds, MINUTE, Self::MAX_ACCESS_TOKEN.as_secs())
    }

    pub fn id_token(seconds: i64) -> Result<Duration, LifetimeError> {
        bounded(seconds, MINUTE, DAY)
    }

    pub fn refresh_token(seconds: i64) -> Result<Duration, LifetimeError> {
        bounded(seconds, HOUR, 365 * DAY)
    }

    pub fn session_idle(seconds: i64) -> Result<Duration, LifetimeError> {
        bounded(seconds, 5 * MINUTE, 30 * DAY)
    }

    pub fn session_absolute(seconds: i64) -> Result<Duration, LifetimeError> {
        bounded(seconds, 5 * MINUTE, 365 * DAY)
    }
}

fn bounded(seconds: i64, min: u64, max: u64) -> Result<Duration, LifetimeError> {
    match u64::try_from(seconds) {
        Ok(s) if (min..=max).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(LifetimeError {
            min,
            max,
            got: seconds,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_stay_within_sane_bounds() {
        assert_eq!(
            TokenLifetimes::access_token(600),
            Ok(Duration::from_secs(600))
        );
        assert!(TokenLifetimes::access_token(59).is_err());
        assert!(TokenLifetimes::access_token(-1).is_err());
        assert!(TokenLifetimes::id_token(86_401).is_err());
        assert!(TokenLifetimes::refresh_token(3599).is_err());
        assert!(TokenLifetimes::refresh_token(365 * 86_400).is_ok());
        assert!(TokenLifetimes::session_idle(299).is_err());
        assert!(TokenLifetimes::session_idle(31 * 86_400).is_err());
        assert!(TokenLifetimes::session_absolute(365 * 86_400).is_ok());
    }
}
