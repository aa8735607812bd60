//! `page_size` / `page_token` (AIP-158). Tokens are opaque to clients: a versioned,
//! base64url-encoded sort key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_store::{Page, PageRequest};

use crate::error::AdminError;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;
const TOKEN_VERSION: &str = "k1:";

pub fn request(page_size: i32, page_token: &str) -> Result<PageRequest, AdminError> {
    let size = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if n < 0 => return Err(AdminError::invalid("page_size", "must not be negative")),
        // AIP-158: larger sizes are coerced to the maximum.
        n => u64::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let invalid = || {
            AdminError::invalid(
                "page_token",
                "is not a page token returned by this API; start again without one",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(page_token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        Some(
            text.strip_prefix(TOKEN_VERSION)
                .ok_or_else(invalid)?
                .to_owned(),
        )
    };
    Ok(PageRequest { size, after })
}

pub fn next_token<T>(page: &Page<T>) -> String {
    page.next_after
        .as_ref()
        .map(|key| URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}{key}")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let page = Page {
            items: vec![1],
            next_after: Some("acme".to_owned()),
        };
        let token = next_token(&page);
        assert_eq!(
            request(10, &token).expect("valid").after.as_deref(),
            Some("acme")
        );
        assert_eq!(request(0, "").expect("valid").size, DEFAULT_PAGE_SIZE);
        assert_eq!(request(5000, "").expect("valid").size, MAX_PAGE_SIZE);
        assert!(request(-1, "").is_err());
        assert!(request(10, "not a token!").is_err());
        assert!(request(10, &URL_SAFE_NO_PAD.encode("acme")).is_err());
    }
}
