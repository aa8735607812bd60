//! Wire forms shared by every service: enums, timestamps, durations, etags, request ids.

use std::time::Duration;

use keyhaven_core::jose::SigningAlgorithm;
use keyhaven_core::model::Application;
use keyhaven_core::{
    ApplicationType, BackchannelLogoutUri, Environment, EnvironmentSet, Invalid, RedirectPurpose,
    Timestamp,
};
use keyhaven_proto::admin::v1 as pb;

use crate::error::AdminError;

pub fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let millis = at.unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

pub fn optional_timestamp(at: Option<Timestamp>) -> Option<prost_types::Timestamp> {
    at.map(timestamp)
}

pub fn from_timestamp(field: &str, ts: &prost_types::Timestamp) -> Result<Timestamp, AdminError> {
    if !(0..1_000_000_000).contains(&ts.nanos) || ts.seconds < 0 || ts.seconds > 253_402_300_799 {
        return Err(AdminError::invalid(
            field,
            "is not a valid timestamp between 1970 and 9999",
        ));
    }
    Ok(Timestamp::from_unix_millis(
        ts.seconds * 1000 + i64::from(ts.nanos / 1_000_000),
    ))
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

/// Whole seconds of a duration; fractions are refused rather than silently dropped.
pub fn seconds(field: &str, d: &prost_types::Duration) -> Result<i64, AdminError> {
    if d.nanos != 0 {
        return Err(AdminError::invalid(
            field,
            "must be a whole number of seconds",
        ));
    }
    Ok(d.seconds)
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an etag names; an empty etag means "whatever is current".
pub fn expected_version(field: &str, etag: &str) -> Result<Option<i64>, AdminError> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| AdminError::invalid(field, "is not an etag returned by this API"))
}

pub const MAX_REQUEST_ID_LEN: usize = 64;

/// A client-chosen request id, or the rule it breaks (for `Invalid::check`).
pub fn request_id(raw: &str) -> Result<Option<&str>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_REQUEST_ID_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "must be at most {MAX_REQUEST_ID_LEN} visible ASCII characters (a UUID is a good choice)"
        ));
    }
    Ok(Some(raw))
}

pub fn environment_to_proto(env: Environment) -> pb::Environment {
    match env {
        Environment::Production => pb::Environment::Production,
        Environment::Staging => pb::Environment::Staging,
        Environment::Localhost => pb::Environment::Localhost,
    }
}

pub fn environment(field: &str, raw: i32) -> Result<Environment, String> {
    match pb::Environment::try_from(raw) {
        Ok(pb::Environment::Production) => Ok(Environment::Production),
        Ok(pb::Environment::Staging) => Ok(Environment::Staging),
        Ok(pb::Environment::Localhost) => Ok(Environment::Localhost),
        Ok(pb::Environment::Unspecified) => Err(format!(
            "{field} is required: ENVIRONMENT_PRODUCTION, ENVIRONMENT_STAGING or ENVIRONMENT_LOCALHOST"
        )),
        Err(_) => Err(format!(
            "unknown value {raw}; expected ENVIRONMENT_PRODUCTION, ENVIRONMENT_STAGING or ENVIRONMENT_LOCALHOST"
        )),
    }
}

/// Reads a list of switched-off environments into the set of switched-on ones.
pub fn enabled_environments(
    field: &str,
    disabled: &[i32],
    invalid: &mut Invalid,
) -> EnvironmentSet {
    let mut set = EnvironmentSet::all();
    for (i, raw) in disabled.iter().enumerate() {
        let item = format!("{field}[{i}]");
        match environment(&item, *raw) {
            Ok(env) if !set.contains(env) => invalid.push(item, format!("{env} is listed twice")),
            Ok(env) => set.set(env, false),
            Err(why) => invalid.push(item, why),
        }
    }
    set
}

pub fn disabled_environments(set: EnvironmentSet) -> Vec<i32> {
    Environment::ALL
        .into_iter()
        .filter(|e| !set.contains(*e))
        .map(|e| environment_to_proto(e) as i32)
        .collect()
}

pub fn application_type_to_proto(t: ApplicationType) -> pb::ApplicationType {
    match t {
        ApplicationType::Web => pb::ApplicationType::Web,
        ApplicationType::Spa => pb::ApplicationType::Spa,
        ApplicationType::Native => pb::ApplicationType::Native,
        ApplicationType::Service => pb::ApplicationType::Service,
    }
}

pub fn application_type(raw: i32) -> Result<ApplicationType, String> {
    let expected = "APPLICATION_TYPE_WEB, APPLICATION_TYPE_SPA, APPLICATION_TYPE_NATIVE or APPLICATION_TYPE_SERVICE";
    match pb::ApplicationType::try_from(raw) {
        Ok(pb::ApplicationType::Web) => Ok(ApplicationType::Web),
        Ok(pb::ApplicationType::Spa) => Ok(ApplicationType::Spa),
        Ok(pb::ApplicationType::Native) => Ok(ApplicationType::Native),
        Ok(pb::ApplicationType::Service) => Ok(ApplicationType::Service),
        Ok(pb::ApplicationType::Unspecified) => Err(format!("is required: {expected}")),
        Err(_) => Err(format!("unknown value {raw}; expected {expected}")),
    }
}

/// An application's `backchannel_logout_uri`; empty registers none.
pub fn backchannel_logout_uri(raw: &str) -> Result<Option<BackchannelLogoutUri>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    BackchannelLogoutUri::parse(raw)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// An application's `id_token_signed_response_alg` by its exact JWS name; empty takes
/// the default, RS256.
pub fn id_token_algorithm(raw: &str) -> Result<SigningAlgorithm, String> {
    if raw.is_empty() {
        return Ok(Application::DEFAULT_ID_TOKEN_ALG);
    }
    SigningAlgorithm::parse(raw).ok_or_else(|| {
        format!("unknown value {raw:?}; expected RS256 (the default), ES256 or EdDSA")
    })
}

pub fn purpose_to_proto(p: RedirectPurpose) -> pb::RedirectUriPurpose {
    match p {
        RedirectPurpose::Callback => pb::RedirectUriPurpose::Callback,
        RedirectPurpose::PostLogout => pb::RedirectUriPurpose::PostLogout,
    }
}

pub fn purpose(raw: i32) -> Result<RedirectPurpose, String> {
    let expected = "REDIRECT_URI_PURPOSE_CALLBACK or REDIRECT_URI_PURPOSE_POST_LOGOUT";
    match pb::RedirectUriPurpose::try_from(raw) {
        Ok(pb::RedirectUriPurpose::Callback) => Ok(RedirectPurpose::Callback),
        Ok(pb::RedirectUriPurpose::PostLogout) => Ok(RedirectPurpose::PostLogout),
        Ok(pb::RedirectUriPurpose::Unspecified) => Err(format!("is required: {expected}")),
        Err(_) => Err(format!("unknown value {raw}; expected {expected}")),
    }
}

/// The paths of an update mask, each checked against the fields an update may touch.
pub fn update_paths<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    allowed: &[&str],
) -> Result<Vec<&'a str>, AdminError> {
    let mask = mask.ok_or_else(|| {
        AdminError::invalid(
            "update_mask",
            format!("is required; updatable fields: {}", allowed.join(", ")),
        )
    })?;
    if mask.paths.is_empty() {
        return Err(AdminError::invalid(
            "update_mask.paths",
            format!("must name at least one of: {}", allowed.join(", ")),
        ));
    }
    let mut invalid = Invalid::default();
    for (i, path) in mask.paths.iter().enumerate() {
        if !allowed.contains(&path.as_str()) {
            invalid.push(
                format!("update_mask.paths[{i}]"),
                format!(
                    "{path:?} cannot be updated; updatable fields: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    invalid.finish()?;
    Ok(mask.paths.iter().map(String::as_str).collect())
}
