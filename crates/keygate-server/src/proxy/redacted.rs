//! Upstream bytes on their way to a client, with the provider's secrets cut out wherever an
//! upstream could have echoed one: every error body, and the error events of streams. Successful
//! answers cost a byte search per chunk and nothing else.

use bytes::Bytes;
use keygate_core::redact::Redactor;
pub use keygate_core::redact::mentions_error;

/// A whole body (an error answer) without the provider's secrets; the same bytes, not a
/// copy, when there was nothing to cut.
pub fn body(redactor: &Redactor, body: Bytes) -> Bytes {
    match redactor.redact_bytes(&body) {
        std::borrow::Cow::Borrowed(_) => body,
        std::borrow::Cow::Owned(cut) => Bytes::from(cut),
    }
}

/// A successful raw answer (`/p/`) relayed chunk by chunk: chunks pass untouched until one
/// mentions an error, and from then on each is scanned for the provider's secrets. A chunk
/// boundary can split a secret; each side is cut where it holds a recognisable run of it.
#[derive(Debug, Default)]
pub struct ChunkScrubber {
    armed: bool,
    /// The previous chunk's last bytes, so a marker split by a chunk boundary is still seen.
    tail: Vec<u8>,
}

/// The longest marker [`mentions_error`] looks for, less one.
const MARKER_SPAN: usize = b"event: error".len() - 1;

impl ChunkScrubber {
    pub fn pass(&mut self, redactor: &Redactor, chunk: Bytes) -> Bytes {
        if !self.armed {
            let head = &chunk[..chunk.len().min(MARKER_SPAN)];
            self.tail.extend_from_slice(head);
            self.armed = mentions_error(&chunk) || mentions_error(&self.tail);
            let keep = chunk.len().min(MARKER_SPAN);
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        }
        if !self.armed {
            return chunk;
        }
        body(redactor, chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-echo-0123456789abcdefghijKLMN";

    #[test]
    fn content_passes_untouched_until_an_error_shows_up() {
        let redactor = Redactor::new([KEY]);
        let mut scrubber = ChunkScrubber::default();
        let content =
            Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
        let out = scrubber.pass(&redactor, content.clone());
        assert_eq!(
            out.as_ptr(),
            content.as_ptr(),
            "no copy for a content chunk"
        );
        let error = Bytes::from(format!(
            "data: {{\"error\":{{\"message\":\"bad key {}",
            &KEY[..20]
        ));
        let out = scrubber.pass(&redactor, error);
        assert!(!String::from_utf8_lossy(&out).contains(&KEY[..20]));
        let rest = Bytes::from(format!("{}\"}}}}\n\n", &KEY[20..]));
        let out = scrubber.pass(&redactor, rest);
        assert!(
            !String::from_utf8_lossy(&out).contains(&KEY[20..]),
            "armed for the rest"
        );
    }

    #[test]
    fn a_marker_split_between_chunks_still_arms_the_scrubber() {
        let redactor = Redactor::new([KEY]);
        let mut scrubber = ChunkScrubber::default();
        let _ = scrubber.pass(&redactor, Bytes::from_static(b"data: {\"err"));
        let out = scrubber.pass(&redactor, Bytes::from(format!("or\":\"{KEY}\"}}\n\n")));
        assert!(
            !String::from_utf8_lossy(&out).contains(&KEY[8..]),
            "{out:?}"
        );
    }
}
