//! First start: an empty database gets organization `default` and an organization
//! token with every permission. The token is written to `<data dir>/bootstrap-token`
//! with mode 0600 (or taken from `KEYHAVEN_BOOTSTRAP_TOKEN`), and only its path is
//! logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use keyhaven_admin::AdminState;
use keyhaven_core::{SecretDigest, SecretKind, Slug};
use keyhaven_store::organizations::{self, Bootstrap};

pub const TOKEN_FILE: &str = "bootstrap-token";
const ORGANIZATION: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("could not write the bootstrap token to {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not initialise the database: {0}")]
    Store(#[from] keyhaven_store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// What the first start did, for the log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A token was generated and written to this file.
    Written(PathBuf),
    /// The token came from `KEYHAVEN_BOOTSTRAP_TOKEN`.
    Supplied,
    /// The database was initialised before; nothing was written.
    AlreadyInitialised,
}

pub async fn run(
    state: &AdminState,
    data_dir: &Path,
    supplied: Option<&str>,
) -> Result<Outcome, BootstrapError> {
    let slug = Slug::parse(ORGANIZATION).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
    let (digest, generated) = match supplied {
        Some(token) => (
            SecretDigest::of_presented(SecretKind::ManagementToken, token)
                .map_err(|e| BootstrapError::Invalid(format!("KEYHAVEN_BOOTSTRAP_TOKEN {e}")))?,
            None,
        ),
        None => {
            let token = state.new_secret(SecretKind::ManagementToken);
            (token.digest(), Some(token))
        }
    };
    // The token reaches the disk before the database knows it, so a crash in between
    // leaves a stray file, never an organization nobody can administer.
    let staged = match &generated {
        Some(token) => Some(stage(data_dir, token.expose())?),
        None => None,
    };
    let outcome = organizations::bootstrap(
        &state.store,
        &slug,
        "Default organization",
        digest,
        state.now(),
    )
    .await;
    match (outcome, staged) {
        (Ok(Bootstrap::Created { .. }), Some(staged)) => {
            let path = data_dir.join(TOKEN_FILE);
            std::fs::rename(&staged, &path).map_err(|source| BootstrapError::File {
                path: path.clone(),
                source,
            })?;
            Ok(Outcome::Written(path))
        }
        (Ok(Bootstrap::Created { .. }), None) => Ok(Outcome::Supplied),
        (Ok(Bootstrap::AlreadyInitialised), staged) => {
            if let Some(staged) = staged {
                let _ = std::fs::remove_file(staged);
            }
            Ok(Outcome::AlreadyInitialised)
        }
        (Err(err), staged) => {
            if let Some(staged) = staged {
                let _ = std::fs::remove_file(staged);
            }
            Err(err.into())
        }
    }
}

fn stage(data_dir: &Path, token: &str) -> Result<PathBuf, BootstrapError> {
    let path = data_dir.join(format!("{TOKEN_FILE}.tmp"));
    let error = |source| BootstrapError::File {
        path: path.clone(),
        source,
    };
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(error)?;
    file.write_all(token.as_bytes()).map_err(error)?;
    file.write_all(b"\n").map_err(error)?;
    file.sync_all().map_err(error)?;
    Ok(path)
}
