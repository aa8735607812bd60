//! Where the control plane is, who is calling, and the channel that carries the token.

use std::fmt;
use std::time::Duration;

use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::{CliError, error_chain};

/// Where the control plane is and who is calling.
#[derive(clap::Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// Admin gRPC URL
    #[arg(
        long = "admin-url",
        env = "KEYHAVEN_ADMIN_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub admin_url: String,
    /// Management token (organization or service token)
    #[arg(long, env = "KEYHAVEN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
}

/// Written by hand so that logging a `Connection` never shows the token.
impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("admin_url", &self.admin_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("json", &self.json)
            .finish()
    }
}

/// A channel to the control plane that adds the caller's token to every request. Every
/// service client is built on a clone of it.
pub(crate) type AdminChannel = InterceptedService<Channel, BearerToken>;

impl Connection {
    /// Checks the token and the URL, then connects. The token is checked first so that a
    /// forgotten token is reported without any network traffic.
    pub(crate) async fn connect(&self) -> Result<AdminChannel, CliError> {
        let bearer = BearerToken::parse(self.token.as_deref())?;
        let endpoint = self.endpoint()?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| CliError::Unreachable {
                url: self.admin_url.clone(),
                reason: error_chain(&error),
            })?;
        Ok(InterceptedService::new(channel, bearer))
    }

    fn endpoint(&self) -> Result<Endpoint, CliError> {
        let invalid = |reason: String| CliError::InvalidUrl {
            url: self.admin_url.clone(),
            reason,
        };
        let endpoint = Endpoint::from_shared(self.admin_url.clone())
            .map_err(|error| invalid(error_chain(&error)))?;
        match endpoint.uri().scheme_str() {
            Some("http") => {}
            // Without TLS support the token would cross the network in clear text to a
            // server that expects TLS, so refuse rather than try.
            Some("https") => {
                return Err(invalid(
                    "this build has no TLS support; use an http:// URL (such as a local port \
                     forward)"
                        .to_owned(),
                ));
            }
            _ => return Err(invalid("expected an http:// URL".to_owned())),
        }
        Ok(endpoint
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60)))
    }
}

/// The `authorization: Bearer <token>` header, built once and added to every request.
#[derive(Clone)]
pub(crate) struct BearerToken(MetadataValue<Ascii>);

impl BearerToken {
    fn parse(token: Option<&str>) -> Result<Self, CliError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(CliError::MissingToken)?;
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::MalformedToken)?;
        value.set_sensitive(true);
        Ok(BearerToken(value))
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(url: &str, token: Option<&str>) -> Connection {
        Connection {
            admin_url: url.to_owned(),
            token: token.map(str::to_owned),
            json: false,
        }
    }

    #[tokio::test]
    async fn a_missing_token_is_reported_before_connecting() {
        // Nothing listens on this URL's port: reaching it would fail differently.
        let result = connection("http://127.0.0.1:9", None).connect().await;
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("--token"), "{message}");
        assert!(message.contains("KEYHAVEN_TOKEN"), "{message}");
    }

    #[tokio::test]
    async fn an_empty_token_counts_as_missing() {
        let result = connection("http://127.0.0.1:9", Some("  ")).connect().await;
        assert!(matches!(result, Err(CliError::MissingToken)));
    }

    #[tokio::test]
    async fn an_unreachable_control_plane_is_named_by_its_url() {
        let result = connection("http://127.0.0.1:9", Some("kh_secret"))
            .connect()
            .await;
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("could not reach the control plane at http://127.0.0.1:9"));
        assert!(!message.contains("kh_secret"), "{message}");
    }

    #[tokio::test]
    async fn https_urls_are_refused_instead_of_sending_the_token_in_clear_text() {
        let result = connection("https://admin.example", Some("kh_secret"))
            .connect()
            .await;
        assert!(matches!(result, Err(CliError::InvalidUrl { .. })));
    }

    #[test]
    fn debug_output_of_a_connection_hides_the_token() {
        let shown = format!("{:?}", connection("http://127.0.0.1:9", Some("kh_secret")));
        assert!(!shown.contains("kh_secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
