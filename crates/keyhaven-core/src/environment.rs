//! Deployment environments a redirect URI is tagged with, and which of them are switched on.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Environment {
    Production,
    Staging,
    Localhost,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Self::Production, Self::Staging, Self::Localhost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Localhost => "localhost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environments switched on for a tenant or an application. Switching one off keeps
/// its redirect URIs registered but makes them match nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnvironmentSet {
    production: bool,
    staging: bool,
    localhost: bool,
}

impl Default for EnvironmentSet {
    fn default() -> Self {
        Self::all()
    }
}

impl EnvironmentSet {
    pub const fn all() -> Self {
        Self {
            production: true,
            staging: true,
            localhost: true,
        }
    }

    pub const fn none() -> Self {
        Self {
            production: false,
            staging: false,
            localhost: false,
        }
    }

    pub fn contains(self, env: Environment) -> bool {
        match env {
            Environment::Production => self.production,
            Environment::Staging => self.staging,
            Environment::Localhost => self.localhost,
        }
    }

    pub fn set(&mut self, env: Environment, enabled: bool) {
        match env {
            Environment::Production => self.production = enabled,
            Environment::Staging => self.staging = enabled,
            Environment::Localhost => self.localhost = enabled,
        }
    }

    pub fn iter(self) -> impl Iterator<Item = Environment> {
        Environment::ALL
            .into_iter()
            .filter(move |e| self.contains(*e))
    }

    /// The switched-off environments, comma-separated: how the store keeps this set, so
    /// that a row written before a new environment existed reads it as switched on.
    pub fn disabled_list(self) -> String {
        Environment::ALL
            .into_iter()
            .filter(|e| !self.contains(*e))
            .map(Environment::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads [`Self::disabled_list`]; unknown names are ignored (rows from a newer version).
    pub fn from_disabled_list(raw: &str) -> Self {
        let mut set = Self::all();
        for env in raw.split(',').filter_map(Environment::parse) {
            set.set(env, false);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_list_round_trips() {
        let mut set = EnvironmentSet::all();
        assert_eq!(set.disabled_list(), "");
        set.set(Environment::Localhost, false);
        set.set(Environment::Staging, false);
        assert_eq!(set.disabled_list(), "staging,localhost");
        assert_eq!(
            EnvironmentSet::from_disabled_list(&set.disabled_list()),
            set
        );
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Environment::Production]
        );
    }
}
