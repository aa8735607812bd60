use crate::ids::ApplicationId;
use crate::redirect_uri::{RedirectPurpose, RedirectUri};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredRedirectUri {
    pub id: String,
    pub application_id: ApplicationId,
    pub uri: RedirectUri,
    pub purpose: RedirectPurpose,
    pub created_at: Timestamp,
}
