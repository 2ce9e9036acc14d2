//! Server-sent-events framing: turning upstream bytes, cut at arbitrary points, into whole
//! events, and writing events back out. Knows nothing about either LLM protocol.

use serde_json::Value;

use super::error::TranslateError;

/// One dispatched SSE event: the `event:` name if any, and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// An upstream that never sends a newline would otherwise grow our buffer without bound.
const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

/// Incremental SSE decoder. Lines end in `\n` or `\r\n`; a lone `\r` terminator (allowed by the
/// spec, sent by no LLM provider) is not supported because it would make every chunk that ends
/// in `\r` ambiguous.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line in progress. Only whole lines are decoded, and `\n` never occurs inside
    /// a multi-byte UTF-8 sequence, so a character split across chunks is never decoded early.
    buf: Vec<u8>,
    /// How much of `buf` is already known to hold no `\n`, so byte-at-a-time input stays linear.
    scanned: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, TranslateError> {
        self.buf.extend_from_slice(bytes);
        let buf = std::mem::take(&mut self.buf);
        let mut events = Vec::new();
        let mut line_start = 0;
        let mut search_from = self.scanned;
        while let Some(offset) = buf[search_from..].iter().position(|&b| b == b'\n') {
            let end = search_from + offset;
            self.line(&buf[line_start..end], &mut events)?;
            line_start = end + 1;
            search_from = line_start;
        }
        self.buf = buf;
        self.buf.drain(..line_start);
        self.scanned = self.buf.len();
        if self.buf.len() + self.data.len() > MAX_PENDING_BYTES {
            return Err(TranslateError::MalformedStream(format!(
                "an event grew past {MAX_PENDING_BYTES} bytes without ending"
            )));
        }
        Ok(events)
    }

    /// Flushes what is left when the upstream closes. An upstream that closes right after its
    /// last line, without the blank line that should follow, still meant that event.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, TranslateError> {
        let mut events = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if !rest.is_empty() {
            self.line(&rest, &mut events)?;
        }
        self.dispatch(&mut events);
        Ok(events)
    }

    fn line(&mut self, raw: &[u8], events: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| TranslateError::MalformedStream("a line is not valid UTF-8".to_owned()))?;
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` steer browser reconnection, which a proxy never does.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            events.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
        self.data.clear();
        self.has_data = false;
    }
}

/// Appends an Anthropic-style event: `event: <type>\ndata: <json>\n\n`. Compact JSON escapes
/// newlines, so one `data:` line always suffices.
pub(crate) fn write_named_event(out: &mut Vec<u8>, event_type: &str, data: &Value) {
    out.extend_from_slice(format!("event: {event_type}\ndata: {data}\n\n").as_bytes());
}

/// Appends an OpenAI-style event: `data: <json>\n\n`.
pub(crate) fn write_data_event(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
}

pub(crate) const CHAT_DONE: &[u8] = b"data: [DONE]\n\n";

/// Decodes a whole byte string; for tests that inspect what a translator emitted.
#[cfg(test)]
pub(crate) fn decode_all(bytes: &[u8]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::default();
    let mut events = decoder.push(bytes).expect("valid SSE");
    events.extend(decoder.finish().expect("valid SSE"));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: name.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn crlf_and_lf_line_ends_decode_the_same() {
        let lf = decode_all(b"event: a\ndata: 1\n\ndata: 2\n\n");
        let crlf = decode_all(b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n");
        assert_eq!(lf, vec![event(Some("a"), "1"), event(None, "2")]);
        assert_eq!(lf, crlf);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(
            decode_all(b"data: {\"a\":\ndata:  1}\n\n"),
            vec![event(None, "{\"a\":\n 1}")]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let events = decode_all(b": OPENROUTER PROCESSING\n\nid: 7\nretry: 10\ndata: x\n\n");
        assert_eq!(events, vec![event(None, "x")]);
    }

    #[test]
    fn event_name_without_data_is_not_dispatched() {
        assert_eq!(
            decode_all(b"event: ping\n\ndata: y\n\n"),
            vec![event(None, "y")]
        );
    }

    #[test]
    fn events_split_at_every_byte_decode_identically() {
        let input = "event: t\r\ndata: {\"text\":\"héllo — 世界 🎉\"}\r\n\r\n: c\ndata: [DONE]\n\n";
        let whole = decode_all(input.as_bytes());
        let mut decoder = SseDecoder::default();
        let mut split = Vec::new();
        for byte in input.as_bytes() {
            split.extend(decoder.push(std::slice::from_ref(byte)).expect("valid SSE"));
        }
        split.extend(decoder.finish().expect("valid SSE"));
        assert_eq!(whole, split);
        assert_eq!(whole[0].data, "{\"text\":\"héllo — 世界 🎉\"}");
    }

    #[test]
    fn last_event_without_trailing_blank_line_is_flushed_on_finish() {
        let mut decoder = SseDecoder::default();
        assert!(decoder.push(b"data: [DONE]").expect("valid SSE").is_empty());
        assert_eq!(
            decoder.finish().expect("valid SSE"),
            vec![event(None, "[DONE]")]
        );
    }

    #[test]
    fn invalid_utf8_is_a_malformed_stream() {
        let mut decoder = SseDecoder::default();
        let err = decoder
            .push(b"data: \xff\xfe\n\n")
            .expect_err("invalid UTF-8");
        assert!(matches!(err, TranslateError::MalformedStream(_)));
    }

    #[test]
    fn written_events_decode_back() {
        let mut out = Vec::new();
        write_named_event(&mut out, "ping", &serde_json::json!({"type": "ping"}));
        write_data_event(&mut out, &serde_json::json!({"a": "b\nc"}));
        out.extend_from_slice(CHAT_DONE);
        let events = decode_all(&out);
        assert_eq!(
            events,
            vec![
                event(Some("ping"), "{\"type\":\"ping\"}"),
                event(None, "{\"a\":\"b\\nc\"}"),
                event(None, "[DONE]")
            ]
        );
    }
}
