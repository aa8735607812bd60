//! The token endpoint's successful answer (RFC 6749 §5.1), as every grant builds it.
//!
//! A struct rather than a JSON tree: each token request serialises it straight to the
//! response body, and a refresh stores it sealed for a retry inside its window.

use serde::{Deserialize, Serialize};

/// RFC 6749 §7.1: the only type this server issues (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenType {
    Bearer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds (RFC 6749 §5.1).
    pub expires_in: u64,
    /// Sent whenever the grant has a scope, even when it is the one requested
    /// (RFC 6749 §5.1 requires it only when it differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// OIDC Core §3.1.3.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// OpenID Connect Native SSO §3.4, with `openid device_sso`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
    /// RFC 8693 §2.2.1, on a token exchange only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

impl TokenResponse {
    /// A bearer access token that lives `expires_in` seconds, with nothing else yet.
    pub fn bearer(access_token: String, expires_in: u64, scope: Option<String>) -> Self {
        Self {
            access_token,
            token_type: TokenType::Bearer,
            expires_in,
            scope,
            refresh_token: None,
            id_token: None,
            device_secret: None,
            issued_token_type: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_members_are_left_out_and_the_type_is_bearer() {
        let response = TokenResponse::bearer("at".into(), 300, None);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300})
        );
    }

    #[test]
    fn a_stored_answer_reads_back_as_it_was_sent() {
        let mut response = TokenResponse::bearer("at".into(), 300, Some("openid".into()));
        response.refresh_token = Some("rt".into());
        response.id_token = Some("it".into());
        let bytes = serde_json::to_vec(&response).unwrap();
        assert_eq!(
            serde_json::from_slice::<TokenResponse>(&bytes).unwrap(),
            response
        );
    }
}
