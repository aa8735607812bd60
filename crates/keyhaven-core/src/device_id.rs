//! The device a client names in the `x-device-id` header (design.md §4.5): bound to the
//! refresh tokens issued at sign-in, so that a sign-out from that device revokes only
//! what was issued to it.

use std::fmt;

/// Longest device id accepted (design.md §4.5).
pub const MAX_DEVICE_ID: usize = 72;

/// A device id: 1 to [`MAX_DEVICE_ID`] visible ASCII characters, kept as sent (device
/// ids are compared exactly, like the clients that generate them do).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    #[error("x-device-id must not be empty")]
    Empty,
    #[error("x-device-id must be at most {MAX_DEVICE_ID} characters long")]
    TooLong,
    #[error("x-device-id may contain only visible ASCII characters")]
    Character,
}

impl DeviceId {
    pub fn parse(raw: &str) -> Result<Self, DeviceIdError> {
        if raw.is_empty() {
            return Err(DeviceIdError::Empty);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DeviceIdError::Character);
        }
        // Checked after the characters: with ASCII only, bytes are characters.
        if raw.len() > MAX_DEVICE_ID {
            return Err(DeviceIdError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_id_is_one_to_72_visible_ascii_characters() {
        let longest = "d".repeat(MAX_DEVICE_ID);
        for ok in [
            "d",
            "phone-1",
            "7f3c9a2e-1b4d-4c8e-9f00-aa11bb22cc33",
            &longest,
        ] {
            assert_eq!(
                DeviceId::parse(ok).map(|d| d.into_string()),
                Ok(ok.to_owned())
            );
        }
        assert_eq!(
            DeviceId::parse(&"d".repeat(MAX_DEVICE_ID + 1)),
            Err(DeviceIdError::TooLong)
        );
        assert_eq!(DeviceId::parse(""), Err(DeviceIdError::Empty));
        for bad in ["my phone", "tab\there", "é", "line\nbreak", "\u{7f}"] {
            assert_eq!(
                DeviceId::parse(bad),
                Err(DeviceIdError::Character),
                "{bad:?}"
            );
        }
        // 72 characters of more than one byte each are not 72 ASCII characters.
        assert_eq!(
            DeviceId::parse(&"é".repeat(40)),
            Err(DeviceIdError::Character)
        );
    }
}
