//! Deployment environments (`--environment`, `--disable-env`) and how they are shown.

use keyhaven_proto::admin::v1::Environment;

use crate::output::enum_label;

/// A deployment environment a redirect URI belongs to.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentArg {
    /// https only, a real domain name
    Production,
    /// https only
    Staging,
    /// http or https on localhost, 127.0.0.1 or [::1]
    Localhost,
}

impl From<EnvironmentArg> for Environment {
    fn from(environment: EnvironmentArg) -> Self {
        match environment {
            EnvironmentArg::Production => Environment::Production,
            EnvironmentArg::Staging => Environment::Staging,
            EnvironmentArg::Localhost => Environment::Localhost,
        }
    }
}

/// The wire values of repeated `--disable-env` flags.
pub(crate) fn to_proto(environments: &[EnvironmentArg]) -> Vec<i32> {
    environments
        .iter()
        .map(|e| Environment::from(*e) as i32)
        .collect()
}

/// `production`, `staging` or `localhost`.
pub(crate) fn label(number: i32) -> String {
    let name = Environment::try_from(number).ok().map(|e| e.as_str_name());
    enum_label(name, "ENVIRONMENT_", number)
}

pub(crate) fn labels(numbers: &[i32]) -> Vec<String> {
    numbers.iter().copied().map(label).collect()
}
