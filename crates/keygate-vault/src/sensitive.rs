use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

const REDACTED: &str = "<redacted>";

/// A value that must never be printed, logged or serialised: an API key, a token.
///
/// `Debug`, `Display` and `Serialize` all print `<redacted>`; the only way to the value is
/// [`Sensitive::expose`], which makes every use of the raw secret easy to find in review.
/// The memory is zeroed when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T: Zeroize>(T);

impl<T: Zeroize> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Call it only where the secret is sent to its real destination
    /// (the keyring, an upstream request header) or fingerprinted.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Sensitive<String> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Sensitive<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> Serialize for Sensitive<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Secrets arrive in API request bodies, so they deserialize normally; they never leave again.
impl<'de, T: Zeroize + Deserialize<'de>> Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_redacts_in_debug_display_and_serde() {
        let secret = Sensitive::new("sk-live-abcdef123456".to_string());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(
            serde_json::to_string(&secret).expect("serialize"),
            "\"<redacted>\""
        );
        assert_eq!(secret.expose(), "sk-live-abcdef123456");
    }

    #[test]
    fn sensitive_inside_a_struct_stays_redacted() {
        #[derive(Debug, Serialize, Deserialize)]
        struct NewKey {
            label: String,
            secret: Sensitive<String>,
        }
        let parsed: NewKey =
            serde_json::from_str(r#"{"label":"main","secret":"sk-hidden-999"}"#).expect("parse");
        assert_eq!(parsed.secret.expose(), "sk-hidden-999");
        let debug = format!("{parsed:?}");
        let json = serde_json::to_string(&parsed).expect("serialize");
        assert!(!debug.contains("sk-hidden-999"), "{debug}");
        assert!(!json.contains("sk-hidden-999"), "{json}");
    }
}
