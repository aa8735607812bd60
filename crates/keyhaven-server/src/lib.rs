//! The `keyhaven` binary as a library: configuration, wiring, listeners, bootstrap and
//! shutdown. `main` stays boring; tests start the same [`app::start`].

pub mod allocator;
pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod kek;
pub mod log_writer;
pub mod observe;
mod ops;
pub mod public;
pub mod sweeper;
pub mod telemetry;

pub use app::{Dependencies, Running, start};
pub use config::Config;
