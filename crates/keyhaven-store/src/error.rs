use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the text names what collided.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The caller's etag is no longer current, or concurrent writers kept winning.
    #[error("the resource was changed by another request; read it again and retry")]
    Conflict,
    /// A stored value no longer parses: a bug or a manual edit, never user input.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl StoreError {
    /// Maps a failed write, naming `what` if a unique constraint refused it.
    pub(crate) fn on_write(what: &'static str) -> impl FnOnce(DbErr) -> StoreError {
        move |err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::AlreadyExists(what),
            _ => StoreError::Database(err),
        }
    }

    pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{what}: {detail}"))
    }
}
