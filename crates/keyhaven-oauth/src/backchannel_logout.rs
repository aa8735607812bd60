//! Sends the queued back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0
//! §2.5, §2.8): a POST of `logout_token=<JWT>` to each application's
//! `backchannel_logout_uri`, retried with exponential back-off while the receiver fails.
//!
//! The queue is in the database (`keyhaven_store::logout_deliveries`), so retries survive
//! a restart, and every replica runs this loop: each attempt is claimed by exactly one.
//! Time comes from the injected clock, which lets tests step through the back-off.

use std::sync::Arc;
use std::time::Duration;

use keyhaven_core::Timestamp;
use keyhaven_metrics::Delivery;
use keyhaven_store::logout_deliveries::{self, Claimed, Outcome};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::error::OAuthError;
use crate::logout_token;
use crate::state::OAuthState;

/// How often the queue is looked at when it was empty.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// §2.5 lets the OP choose; a receiver that has not answered by then is failing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a claimed attempt is this replica's: well past the request timeout, so an
/// attempt is retried elsewhere only when its replica died.
const LEASE: Duration = Duration::from_secs(60);

const MAX_ATTEMPTS: u32 = 10;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(600);

/// Attempts under way at once on one replica, so one slow receiver does not hold up the
/// others.
const MAX_IN_FLIGHT: usize = 16;

/// When to retry after failed attempt number `attempt` (from 1): 1 s, 2 s, 4 s, ...
/// capped at 10 minutes; `None` once the retries are used up.
pub fn retry_after(attempt: u32) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let doubled = FIRST_RETRY.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    Some(doubled.min(MAX_RETRY))
}

pub struct Deliverer {
    state: OAuthState,
    http: reqwest::Client,
}

impl Deliverer {
    pub fn new(state: OAuthState) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // §2.8 counts only a 200 or 204 as received; a redirect is a failure, and
            // following it would let a receiver point the server elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { state, http })
    }

    /// Delivers until `stop` fires, then lets the attempts under way finish (each is
    /// bounded by the request timeout) so none is left half-done.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            while let Ok(slot) = slots.clone().try_acquire_owned() {
                match logout_deliveries::claim_due(&this.state.store, this.state.now(), LEASE).await
                {
                    Ok(Some(claimed)) => {
                        let this = this.clone();
                        in_flight.spawn(async move {
                            this.attempt(claimed).await;
                            drop(slot);
                        });
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::error!(%error, "back-channel logout: could not read the queue");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    #[tracing::instrument(skip_all, fields(
        tenant = %claimed.tenant.slug,
        client_id = %claimed.application.client_id,
        attempt = claimed.attempt,
    ))]
    async fn attempt(&self, claimed: Claimed) {
        let outcome = match self.send(&claimed).await {
            Ok(()) => {
                tracing::info!("back-channel logout delivered");
                self.state.metrics.backchannel_delivery(Delivery::Delivered);
                Outcome::Delivered
            }
            Err(error) => {
                let now = self.state.now();
                match retry_after(claimed.attempt) {
                    Some(delay) => {
                        tracing::warn!(%error, retry_in = ?delay, "back-channel logout failed");
                        self.state.metrics.backchannel_delivery(Delivery::Retry);
                        Outcome::RetryAt(now.saturating_add(delay), error)
                    }
                    None => {
                        tracing::warn!(%error, "back-channel logout failed; giving up");
                        self.state.metrics.backchannel_delivery(Delivery::Abandoned);
                        Outcome::Abandoned(error)
                    }
                }
            }
        };
        if let Err(error) =
            logout_deliveries::finish(&self.state.store, &claimed, &outcome, self.state.now()).await
        {
            // The lease runs out and the attempt is made again.
            tracing::error!(%error, "back-channel logout: could not record the outcome");
        }
    }

    /// One attempt; the error says why it failed, never with the token.
    async fn send(&self, claimed: &Claimed) -> Result<(), String> {
        let environment = claimed.uri.environment();
        if !claimed.tenant.environments.contains(environment)
            || !claimed.application.environments.contains(environment)
        {
            return Err(format!("the {environment} environment is switched off"));
        }
        let token = self.token(claimed, self.state.now()).await?;
        let response = self
            .http
            .post(claimed.uri.as_str())
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        // §2.8: 200 OK, or 204 No Content, means received.
        match response.status().as_u16() {
            200 | 204 => Ok(()),
            status => Err(format!("answered HTTP {status}")),
        }
    }

    async fn token(&self, claimed: &Claimed, now: Timestamp) -> Result<String, String> {
        let unloaded =
            |e: OAuthError| format!("could not load the signing keys: {}", e.description);
        let cached = self
            .state
            .tenants
            .find(&self.state.store, &claimed.tenant.slug, now)
            .await
            .map_err(unloaded)?
            // A slug names one tenant at a time: another id means the claimed tenant was
            // deleted and its slug taken again.
            .filter(|cached| cached.id == claimed.tenant.id)
            .ok_or("the tenant no longer exists")?;
        let keys = cached
            .keys(&self.state.store, now)
            .await
            .map_err(unloaded)?;
        let signer = keys
            .signer(claimed.application.id_token_signed_response_alg)
            .map_err(|e| format!("no signing key: {}", e.description))?;
        let claims = logout_token::Claims::new(
            self.state.issuer(&claimed.tenant),
            claimed.application.client_id.to_string(),
            claimed.subject.clone(),
            claimed.session_id.clone(),
            self.state.random_id(),
            now,
        );
        logout_token::sign(signer, &claims).map_err(|e| format!("could not sign: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_ten_minutes_then_stop() {
        let secs = |attempt| retry_after(attempt).map(|d| d.as_secs());
        assert_eq!(secs(1), Some(1));
        assert_eq!(secs(2), Some(2));
        assert_eq!(secs(3), Some(4));
        assert_eq!(secs(9), Some(256));
        assert_eq!(secs(10), None);
        assert_eq!(secs(40), None);
    }
}
