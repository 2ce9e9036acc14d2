//! Finding provider secrets in text that came back from upstream, and cutting them out.
//!
//! Upstreams echo keys: OpenAI answers `Incorrect API key provided: sk-abc…wxyz`, Anthropic
//! `invalid x-api-key: sk-ant-…`, a custom server may return the whole key, base64 or
//! URL-encoded. Everything KeyGate passes on or stores from an upstream's error goes through a
//! [`Redactor`] built from the secrets of that provider's keys. It removes every run of at least
//! [`MIN_FRAGMENT`] characters of a secret — so a prefix, a suffix or the middle of one — compared
//! without regard to ASCII case, also when the text writes it percent-encoded (`%73%6B…`),
//! JSON-escaped (`\u0073`, `\/`) or as base64 (standard or URL-safe, at any alignment).
//!
//! A [`Redactor`] is derived from secrets and must be treated like one: its `Debug` shows only
//! counts, and it is built by the caller, who owns it, from secrets the caller already holds.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use memchr::memmem;

/// The shortest piece of a secret that is recognised (and the length of the pieces compared).
pub const MIN_FRAGMENT: usize = 8;
/// What a redacted piece is replaced with.
pub const REDACTED: &str = "<redacted>";
/// Stored error text (a key's `last_error`, events, test results) is cut to this many chars.
pub const STORED_TEXT_MAX_CHARS: usize = 500;

/// The secrets of one provider's keys in the forms an upstream might echo them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every [`MIN_FRAGMENT`]-byte window of every form of every secret, lower-cased, as a
    /// little-endian `u64`.
    grams: HashSet<u64, BuildHasherDefault<GramHasher>>,
    /// Secrets shorter than a fragment, matched whole (lower-cased).
    short: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("fragments", &self.grams.len())
            .field("short_secrets", &self.short.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for these secrets. Secrets shorter than 4 bytes are ignored: matching them
    /// would cut ordinary words out of every message.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut redactor = Self::default();
        for secret in secrets {
            redactor.add(secret);
        }
        redactor
    }

    /// Adds one secret (and its encoded forms).
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim().as_bytes();
        if secret.len() < 4 {
            return;
        }
        if secret.len() < MIN_FRAGMENT {
            self.short.push(secret.to_ascii_lowercase());
            return;
        }
        self.add_grams(secret);
        for offset in 0..3 {
            let encoded = base64_standard(&secret[offset..]);
            self.add_grams(encoded.as_bytes());
            let url_safe: String = encoded
                .chars()
                .filter(|&c| c != '=')
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            self.add_grams(url_safe.as_bytes());
        }
    }

    fn add_grams(&mut self, form: &[u8]) {
        let lower = form.to_ascii_lowercase();
        for window in lower.windows(MIN_FRAGMENT) {
            self.grams.insert(gram(window));
        }
    }

    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.grams.is_empty() && self.short.is_empty()
    }

    /// `text` with every recognisable piece of a secret replaced by [`REDACTED`]; borrowed
    /// when there was nothing to cut.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let ranges = self.find(text.as_bytes());
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in ranges {
            // Secrets are ASCII in practice; a range that splits a character is widened.
            let start = floor_char_boundary(text, start);
            let end = ceil_char_boundary(text, end);
            if start < at {
                continue;
            }
            out.push_str(&text[at..start]);
            out.push_str(REDACTED);
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Like [`Redactor::redact`] for bytes that need not be UTF-8 (bodies, stream chunks).
    pub fn redact_bytes<'t>(&self, bytes: &'t [u8]) -> Cow<'t, [u8]> {
        let ranges = self.find(bytes);
        if ranges.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for (start, end) in ranges {
            out.extend_from_slice(&bytes[at..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            at = end;
        }
        out.extend_from_slice(&bytes[at..]);
        Cow::Owned(out)
    }

    /// Upstream error text made fit to store and show: the secrets cut out, then anything else
    /// shaped like an API key, bounded to [`STORED_TEXT_MAX_CHARS`].
    pub fn scrub_for_storage(&self, text: &str) -> String {
        let redacted = self.redact(text);
        let mut out = redact_key_shaped_words(&redacted);
        if out.chars().count() > STORED_TEXT_MAX_CHARS {
            out = out.chars().take(STORED_TEXT_MAX_CHARS).collect();
        }
        out
    }

    /// The byte ranges of `bytes` (sorted, disjoint) that hold a piece of a secret: looked for
    /// in the text as written and, when it has escapes, in the text with escapes decoded (an
    /// escape next to a secret must not hide the secret's first characters).
    fn find(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        if self.is_empty() || bytes.len() < 4 {
            return Vec::new();
        }
        let mut found = self.find_in(&Normalized::of(bytes, false));
        if bytes.iter().any(|&b| b == b'%' || b == b'\\') {
            found.extend(self.find_in(&Normalized::of(bytes, true)));
            found.sort_unstable();
        }
        merge(found)
    }

    /// The ranges (in the original text's offsets, sorted) where `view` holds a piece.
    fn find_in(&self, view: &Normalized) -> Vec<(usize, usize)> {
        let norm = &view.bytes;
        let mut found: Vec<(usize, usize)> = Vec::new();
        if !self.grams.is_empty() && norm.len() >= MIN_FRAGMENT {
            for (i, window) in norm.windows(MIN_FRAGMENT).enumerate() {
                if self.grams.contains(&gram(window)) {
                    found.push((i, i + MIN_FRAGMENT));
                }
            }
        }
        for short in &self.short {
            let mut from = 0;
            while let Some(i) = find_from(norm, short, from) {
                found.push((i, i + short.len()));
                from = i + 1;
            }
        }
        found.sort_unstable();
        merge(found)
            .into_iter()
            .map(|(start, end)| (view.start[start], view.end[end - 1]))
            .collect()
    }
}

fn merge(ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

fn find_from(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

fn gram(window: &[u8]) -> u64 {
    let mut buf = [0u8; MIN_FRAGMENT];
    buf.copy_from_slice(&window[..MIN_FRAGMENT]);
    u64::from_le_bytes(buf)
}

/// The text as compared: ASCII lower-cased, `%XX`, `\uXXXX` (below 0x80) and `\/` decoded,
/// with each byte's span in the original.
struct Normalized {
    bytes: Vec<u8>,
    start: Vec<usize>,
    end: Vec<usize>,
}

impl Normalized {
    /// `decode`: whether escapes are decoded (else only the case is folded).
    fn of(text: &[u8], decode: bool) -> Self {
        let mut view = Self {
            bytes: Vec::with_capacity(text.len()),
            start: Vec::with_capacity(text.len()),
            end: Vec::with_capacity(text.len()),
        };
        let mut i = 0;
        while i < text.len() {
            let (byte, len) = if decode {
                decode_at(text, i)
            } else {
                (text[i], 1)
            };
            view.bytes.push(byte.to_ascii_lowercase());
            view.start.push(i);
            view.end.push(i + len);
            i += len;
        }
        view
    }
}

/// The byte an escape at `i` stands for and the escape's length (1 for a plain byte).
fn decode_at(text: &[u8], i: usize) -> (u8, usize) {
    let hex = |from: usize, n: usize| -> Option<u32> {
        let digits = text.get(from..from + n)?;
        let digits = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    match text[i] {
        b'%' => {
            if let Some(v) = hex(i + 1, 2)
                && text[i + 1].is_ascii_hexdigit()
                && text[i + 2].is_ascii_hexdigit()
            {
                return (u8::try_from(v).unwrap_or(b'%'), 3);
            }
        }
        b'\\' => match text.get(i + 1) {
            Some(b'/') => return (b'/', 2),
            Some(b'u') => {
                if let Some(v) = hex(i + 2, 4)
                    && v < 0x80
                    && text[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit)
                {
                    return (u8::try_from(v).unwrap_or(b'\\'), 6);
                }
            }
            _ => {}
        },
        _ => {}
    }
    (text[i], 1)
}

/// True when the bytes may carry an upstream error: a JSON `"error"` key or value (OpenAI's
/// `{"error":…}`, Anthropic's and Responses' `"type":"error"`, Gemini's stream errors) or an SSE
/// `event: error`. Model output cannot trip it: inside a JSON string its quotes are escaped.
pub fn mentions_error(bytes: &[u8]) -> bool {
    // Built once: making a searcher costs more than searching a small answer.
    static ERROR: std::sync::LazyLock<memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memmem::Finder::new(b"error"));
    ERROR.find_iter(bytes).any(|i| {
        let (before, after) = (&bytes[..i], &bytes[i + 5..]);
        (before.ends_with(b"\"") && after.starts_with(b"\""))
            || before.ends_with(b"event: ")
            || before.ends_with(b"event:")
    })
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Words shaped like an API key (`sk-…`, `AIza…`, `kg-…`, long random-looking tokens) replaced
/// by [`REDACTED`]: for text that is stored, where a key of another provider must not land
/// either.
pub fn redact_key_shaped_words(text: &str) -> String {
    let separator = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ':' | '=');
    text.split_inclusive(separator)
        .map(|word| {
            let core = word.trim_end_matches(separator);
            let looks_like_key = core.len() >= 20
                && (core.starts_with("sk-")
                    || core.starts_with("AIza")
                    || core.starts_with("kg-")
                    || core.starts_with("key-"))
                || core.len() >= 32
                    && core
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                    && core.chars().any(|c| c.is_ascii_digit());
            if looks_like_key {
                word.replacen(core, REDACTED, 1)
            } else {
                word.to_string()
            }
        })
        .collect()
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A hasher for the grams, which are already well mixed bytes of random secrets: one
/// multiply instead of SipHash's rounds.
#[derive(Default)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-bad401-5MNFq8ZrTuVw3xYz1AbCdEfGhIjKlMnOpIIZ";

    fn variants(secret: &str) -> Vec<String> {
        let url_all: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        let json_escaped: String = secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        vec![
            secret.to_string(),
            secret[..secret.len() - 6].to_string(),
            secret[6..].to_string(),
            format!("{}…{}", &secret[..8], &secret[secret.len() - 4..]),
            secret.to_uppercase(),
            secret.to_lowercase(),
            base64_standard(secret.as_bytes()),
            base64_standard(format!("user:{secret}").as_bytes()),
            base64_standard(format!("x{secret}").as_bytes())
                .replace('+', "-")
                .replace('/', "_"),
            url_all,
            secret.replace('-', "%2D"),
            json_escaped,
        ]
    }

    fn leaks(out: &str, secret: &str) -> bool {
        let lower = out.to_ascii_lowercase();
        let secret = secret.to_ascii_lowercase();
        secret
            .as_bytes()
            .windows(MIN_FRAGMENT)
            .any(|w| lower.contains(std::str::from_utf8(w).unwrap_or_default()))
    }

    #[test]
    fn every_echoed_form_of_the_key_is_cut_out() {
        let redactor = Redactor::new([KEY]);
        for variant in variants(KEY) {
            let text = format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {variant}. See docs."}}}}"#
            );
            let out = redactor.redact(&text);
            assert!(out.contains(REDACTED), "{variant} not found in {out}");
            assert!(!leaks(&out, KEY), "{variant} leaked: {out}");
            let b64 = base64_standard(KEY.as_bytes());
            assert!(!out.contains(&b64[4..20]), "{out}");
            assert!(out.starts_with(r#"{"error":{"message":"Incorrect API key provided: "#));
            assert!(out.ends_with(r#". See docs."}}"#), "{out}");
        }
    }

    #[test]
    fn text_without_the_key_is_left_alone() {
        let redactor = Redactor::new([KEY, "AIzaSyD-another-provider-key-000"]);
        let text = "model gpt-4o-mini not found; request id req_12345678";
        assert!(matches!(redactor.redact(text), Cow::Borrowed(_)));
        assert!(matches!(redactor.redact_bytes(b"{}"), Cow::Borrowed(_)));
        assert!(Redactor::new(["abc"]).is_empty());
    }

    #[test]
    fn every_key_of_the_provider_is_looked_for() {
        let other = "sk-ant-api03-QwErTyUiOpAsDfGhJkLzXcVbNm0987654321";
        let redactor = Redactor::new([KEY, other]);
        let text = format!("invalid x-api-key: {other} and {KEY}");
        let out = redactor.redact(&text);
        assert_eq!(out, format!("invalid x-api-key: {REDACTED} and {REDACTED}"));
    }

    #[test]
    fn short_secrets_are_matched_whole() {
        let redactor = Redactor::new(["Pass12"]);
        assert_eq!(
            redactor.redact("bad key pass12!"),
            format!("bad key {REDACTED}!")
        );
    }

    #[test]
    fn stored_text_loses_key_shaped_words_and_is_bounded() {
        let redactor = Redactor::new([KEY]);
        let out = redactor.scrub_for_storage(
            "bad key \"sk-other-0123456789abcdefghij\" here, key=AIzaSyAbcdefghijklmnopqrstuvwxyz012",
        );
        assert!(!out.contains("0123456789abcdefghij"), "{out}");
        assert!(!out.contains("AIzaSy"), "{out}");
        assert!(out.contains("bad key"), "{out}");
        assert!(redactor.scrub_for_storage(&"x".repeat(2000)).len() <= STORED_TEXT_MAX_CHARS);
    }

    #[test]
    fn base64_matches_the_standard_encoding() {
        assert_eq!(base64_standard(b"f"), "Zg==");
        assert_eq!(base64_standard(b"fo"), "Zm8=");
        assert_eq!(base64_standard(b"foo"), "Zm9v");
        assert_eq!(base64_standard(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn escapes_at_the_end_of_the_text_do_not_panic() {
        let redactor = Redactor::new([KEY]);
        for text in ["%", "%4", "\\", "\\u00", "é%é", "\\u00e9\\u0", "%ZZ"] {
            let _ = redactor.redact(text);
            let _ = redactor.redact_bytes(text.as_bytes());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn no_form_of_a_random_key_survives(
            secret in "[A-Za-z0-9_-]{20,64}",
            before in "\\PC{0,40}",
            after in "\\PC{0,40}",
            form in 0usize..12,
        ) {
            let redactor = Redactor::new([secret.as_str()]);
            let variant = variants(&secret).swap_remove(form);
            let text = format!("{before}{variant}{after}");
            let out = redactor.redact(&text);
            proptest::prop_assert!(!leaks(&out, &secret), "{out}");
            let bytes = redactor.redact_bytes(format!("{before}{variant}{after}").as_bytes()).into_owned();
            proptest::prop_assert!(!leaks(&String::from_utf8_lossy(&bytes), &secret));
        }

        #[test]
        fn any_input_is_handled_and_unrelated_text_kept(
            secret in "[A-Za-z0-9]{8,40}",
            text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let redactor = Redactor::new([secret.as_str()]);
            let out = redactor.redact_bytes(&text);
            if matches!(out, Cow::Borrowed(_)) {
                proptest::prop_assert_eq!(&*out, &text[..]);
            }
            let text = String::from_utf8_lossy(&text);
            let _ = redactor.redact(&text);
            let _ = redactor.scrub_for_storage(&text);
        }
    }
}
