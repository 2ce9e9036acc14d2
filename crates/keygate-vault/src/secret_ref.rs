use std::fmt;
use std::str::FromStr;

/// Where a key's secret lives. Stored in the database instead of the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// In the OS keyring under the configured service, with the key id as the account.
    Keyring,
    /// In an environment variable of the process that uses it (headless hosts, CI).
    Env(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretRefError {
    #[error("invalid secret reference {0:?}: expected \"keyring\" or \"env:VAR\"")]
    Unknown(String),
    #[error(
        "invalid environment variable name {0:?}: use letters, digits and underscores, not starting with a digit"
    )]
    BadEnvName(String),
}

impl SecretRef {
    pub fn env(name: &str) -> Result<Self, SecretRefError> {
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self::Env(name.to_string()))
        } else {
            Err(SecretRefError::BadEnvName(name.to_string()))
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keyring => f.write_str("keyring"),
            Self::Env(var) => write!(f, "env:{var}"),
        }
    }
}

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("env:") {
            Some(var) => Self::env(var),
            None if s == "keyring" => Ok(Self::Keyring),
            None => Err(SecretRefError::Unknown(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ref_round_trips_through_its_text_form() {
        for text in ["keyring", "env:OPENAI_API_KEY"] {
            let parsed: SecretRef = text.parse().expect("valid");
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn secret_ref_rejects_bad_env_names_and_unknown_forms() {
        assert!(matches!(
            "env:1BAD".parse::<SecretRef>(),
            Err(SecretRefError::BadEnvName(_))
        ));
        assert!(matches!(
            "env:A-B".parse::<SecretRef>(),
            Err(SecretRefError::BadEnvName(_))
        ));
        assert!(matches!(
            "file:/tmp/x".parse::<SecretRef>(),
            Err(SecretRefError::Unknown(_))
        ));
    }
}
