//! The key-encryption key that seals signing keys: `KEYHAVEN_KEY_ENCRYPTION_KEY` when
//! given, else `<data dir>/key-encryption-key`, generated there (mode 0600) on the first
//! start. Only the file's path is ever logged, never the key.

use std::io::Write;
use std::path::{Path, PathBuf};

use keyhaven_admin::Entropy;
use keyhaven_core::kek::{KEY_LEN, KeyEncryptionKey};

pub const KEK_FILE: &str = "key-encryption-key";

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("key_encryption_key (KEYHAVEN_KEY_ENCRYPTION_KEY) {0}")]
    Configured(keyhaven_core::kek::KekError),
    #[error("{path} does not hold a key-encryption key: it {source}")]
    File {
        path: PathBuf,
        source: keyhaven_core::kek::KekError,
    },
    #[error("could not read or write the key-encryption key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Configured,
    Loaded(PathBuf),
    Generated(PathBuf),
}

pub fn load_or_generate(
    data_dir: &Path,
    configured: Option<&str>,
    entropy: &dyn Entropy,
) -> Result<(KeyEncryptionKey, Source), KekError> {
    if let Some(raw) = configured {
        let kek = KeyEncryptionKey::parse_base64url(raw).map_err(KekError::Configured)?;
        return Ok((kek, Source::Configured));
    }
    let path = data_dir.join(KEK_FILE);
    match read(&path)? {
        Some(kek) => Ok((kek, Source::Loaded(path))),
        None => {
            let mut bytes = [0u8; KEY_LEN];
            entropy.fill(&mut bytes);
            let generated = KeyEncryptionKey::from_bytes(bytes);
            if write_new(data_dir, &path, &generated)? {
                Ok((generated, Source::Generated(path)))
            } else {
                // Another process sharing the data dir wrote its key first: use that one.
                let kek = read(&path)?.ok_or_else(|| KekError::Io {
                    path: path.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
                Ok((kek, Source::Loaded(path)))
            }
        }
    }
}

fn read(path: &Path) -> Result<Option<KeyEncryptionKey>, KekError> {
    let raw = match std::fs::read_to_string(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KekError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the key-encryption key file is readable by other users; it should be mode 0600");
        }
    }
    KeyEncryptionKey::parse_base64url(&raw)
        .map(Some)
        .map_err(|source| KekError::File {
            path: path.to_owned(),
            source,
        })
}

/// Writes the key next to its final place and links it there only if nothing is there
/// yet, so two processes starting together cannot end up with different keys. Returns
/// whether this key was the one written.
fn write_new(data_dir: &Path, path: &Path, kek: &KeyEncryptionKey) -> Result<bool, KekError> {
    let staged = data_dir.join(format!("{KEK_FILE}.{}.tmp", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KekError::Io { path, source }
    };
    let _ = std::fs::remove_file(&staged);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&staged).map_err(io(&staged))?;
        file.write_all(kek.to_base64url().as_bytes())
            .map_err(io(&staged))?;
        file.write_all(b"\n").map_err(io(&staged))?;
        file.sync_all().map_err(io(&staged))?;
        match std::fs::hard_link(&staged, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(KekError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    })();
    let _ = std::fs::remove_file(&staged);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);

    impl Entropy for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn the_first_start_generates_a_private_key_file_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, source) = load_or_generate(dir.path(), None, &Fixed(1)).expect("generated");
        let path = dir.path().join(KEK_FILE);
        assert_eq!(source, Source::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let written = std::fs::read_to_string(&path).expect("file");
        assert_eq!(written.trim(), first.to_base64url());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(KEK_FILE)]);

        let (again, source) = load_or_generate(dir.path(), None, &Fixed(2)).expect("loaded");
        assert_eq!(source, Source::Loaded(path));
        assert_eq!(
            again.to_base64url(),
            first.to_base64url(),
            "not regenerated"
        );
    }

    #[test]
    fn a_configured_key_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let configured = KeyEncryptionKey::from_bytes([9; 32]).to_base64url();
        let (kek, source) =
            load_or_generate(dir.path(), Some(&configured), &Fixed(1)).expect("configured");
        assert_eq!(source, Source::Configured);
        assert_eq!(kek.to_base64url(), configured);
        assert!(!dir.path().join(KEK_FILE).exists());
    }

    #[test]
    fn a_bad_configured_key_or_file_fails_naming_where_it_came_from() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = load_or_generate(dir.path(), Some("too-short"), &Fixed(1))
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("key_encryption_key (KEYHAVEN_KEY_ENCRYPTION_KEY)")
                && err.contains("base64url"),
            "{err}"
        );
        assert!(!err.contains("too-short"), "the value is not echoed: {err}");
        std::fs::write(dir.path().join(KEK_FILE), "garbage\n").expect("write");
        let err = load_or_generate(dir.path(), None, &Fixed(1))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(KEK_FILE) && err.contains("base64url"), "{err}");
    }
}
