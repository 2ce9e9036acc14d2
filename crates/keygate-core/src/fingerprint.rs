//! A key's public face: enough to recognise it, never enough to use it.

use sha2::{Digest, Sha256};

/// `sk-…a1b2 #3f9c2e1d`: the secret's prefix up to its first dash (or its first three
/// characters), its last four characters, and the first eight hex digits of its SHA-256.
/// Secrets too short to spare characters show only the hash.
pub fn fingerprint(secret: &str) -> String {
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    let hash = &digest[..8];
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return format!("…#{hash}");
    }
    let lead_len = chars
        .iter()
        .take(5)
        .position(|&c| c == '-')
        .map_or(3, |dash| dash + 1);
    let lead: String = chars[..lead_len].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{lead}…{tail} #{hash}")
}

/// SHA-256 of a secret as lowercase hex: how access tokens are stored and compared.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_shows_prefix_tail_and_hash_but_not_the_middle() {
        let secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZa1b2";
        let fp = fingerprint(secret);
        assert!(fp.starts_with("sk-…a1b2 #"), "{fp}");
        assert_eq!(fp.len(), "sk-…a1b2 #".len() + 8);
        assert!(!fp.contains("proj-ABCD"));
    }

    #[test]
    fn fingerprint_of_a_dashless_key_uses_three_leading_chars() {
        let fp = fingerprint("AIzaSyD-0123456789abcdefghijklmn");
        assert!(fp.starts_with("AIz…klmn #"), "{fp}");
    }

    #[test]
    fn short_secrets_show_only_the_hash() {
        let fp = fingerprint("short-key");
        assert!(fp.starts_with("…#"), "{fp}");
        assert!(!fp.contains("short"));
    }

    #[test]
    fn fingerprints_differ_for_different_secrets_with_the_same_ends() {
        let a = fingerprint("sk-aaaaaaaaaaaaaaaaaaaaaaaa1234");
        let b = fingerprint("sk-bbbbbbbbbbbbbbbbbbbbbbbb1234");
        assert_ne!(a, b);
    }
}
