//! Local access tokens (`kg-…`) that tools use to call the proxy. Only their SHA-256 is stored.

use crate::fingerprint::sha256_hex;

pub const TOKEN_PREFIX: &str = "kg-";
const TOKEN_BODY_LEN: usize = 32;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Builds `kg-` + 32 characters from caller-supplied random bytes (core has no randomness).
/// 62 does not divide 256, so bytes at or above 248 are skipped to keep every character
/// equally likely; `bytes` must be long enough (64 random bytes are ample in practice).
pub fn token_from_random_bytes(bytes: &[u8]) -> Option<String> {
    let body: String = bytes
        .iter()
        .filter(|&&b| b < 248)
        .take(TOKEN_BODY_LEN)
        .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect();
    (body.len() == TOKEN_BODY_LEN).then(|| format!("{TOKEN_PREFIX}{body}"))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// What listings show instead of the token: `kg-AbCd…`.
pub fn token_hint(token: &str) -> String {
    let shown: String = token.chars().take(TOKEN_PREFIX.len() + 4).collect();
    format!("{shown}…")
}

/// Token names are how users revoke them: `keygate token revoke NAME`.
pub fn validate_token_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid token name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// A model glob limits what a token may call: `gpt-4o*`, `claude-*`, `*`.
pub fn validate_model_glob(glob: &str) -> Result<(), String> {
    let ok = !glob.is_empty()
        && glob.len() <= 128
        && glob.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '*' | '@')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid model pattern {glob:?}: use model names with * as a wildcard"
        ))
    }
}

/// Whether `model` matches `glob`, where `*` matches any run of characters.
pub fn glob_matches(glob: &str, model: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == model;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !model.starts_with(first) || model.len() < first.len() + last.len() || !model.ends_with(last)
    {
        return false;
    }
    let mut rest = &model[first.len()..model.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape() {
        let bytes: Vec<u8> = (0..=255).collect();
        let token = token_from_random_bytes(&bytes).expect("enough bytes");
        assert!(token.starts_with("kg-"));
        assert_eq!(token.len(), 35);
        assert!(token[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(token_from_random_bytes(&[1, 2, 3]).is_none());
        assert!(token_from_random_bytes(&[250; 64]).is_none());
    }

    #[test]
    fn token_hash_is_sha256_hex_and_hint_hides_the_body() {
        let token = "kg-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
        assert_eq!(token_hash(token).len(), 64);
        assert_eq!(token_hint(token), "kg-ABCD…");
    }

    #[test]
    fn globs_match_like_shell_wildcards() {
        assert!(glob_matches("*", "gpt-4o"));
        assert!(glob_matches("gpt-4o*", "gpt-4o-mini"));
        assert!(glob_matches("claude-*-4*", "claude-sonnet-4-5"));
        assert!(glob_matches("*-mini", "gpt-4o-mini"));
        assert!(!glob_matches("gpt-4o*", "gpt-3.5"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
    }

    #[test]
    fn names_and_globs_are_validated() {
        assert!(validate_token_name("cursor-laptop").is_ok());
        assert!(validate_token_name("bad name").is_err());
        assert!(validate_model_glob("gpt-4o*").is_ok());
        assert!(validate_model_glob("rm -rf").is_err());
    }
}
