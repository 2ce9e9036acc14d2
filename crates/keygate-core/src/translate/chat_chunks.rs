//! Reading the hub's own stream: OpenAI `chat.completion.chunk` events, checked once here for
//! every writer that turns them into another protocol's events (Messages, Responses, Gemini).

use serde_json::Value;

use super::error::{TranslateError, upstream_error_from};
use super::sse::{SseDecoder, SseEvent};

/// One event of a chat stream.
pub(crate) enum Chunk {
    /// `data: [DONE]`.
    Done,
    /// A comment, keep-alive or empty event.
    Nothing,
    /// A chunk: its JSON, already checked not to be an error.
    Data(Value),
}

/// Reads one event; an error chunk or `event: error` is the upstream's own error.
pub(crate) fn chunk(event: &SseEvent) -> Result<Chunk, TranslateError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(Chunk::Done);
    }
    if data.is_empty() {
        return Ok(Chunk::Nothing);
    }
    let chunk: Value = serde_json::from_str(data).map_err(|e| {
        let preview: String = data.chars().take(80).collect();
        TranslateError::MalformedStream(format!("invalid JSON in a data line ({e}): {preview}"))
    })?;
    if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
        return Err(upstream_error_from(error));
    }
    if event.event.as_deref() == Some("error") {
        return Err(upstream_error_from(&chunk));
    }
    Ok(Chunk::Data(chunk))
}

/// The chunk's choices of the first answer: the hub's requests never ask for more.
pub(crate) fn first_choices(chunk: &Value) -> impl Iterator<Item = &Value> {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

/// Feeds what is left in `decoder` to `handle` when the upstream closed. A stream cut
/// mid-event is not an error here: that event never arrived, and the caller decides whether
/// what did arrive is a whole answer.
pub(crate) fn drain(
    decoder: &mut SseDecoder,
    mut handle: impl FnMut(&SseEvent) -> Result<(), TranslateError>,
) -> Result<(), TranslateError> {
    match decoder
        .finish()
        .and_then(|events| events.iter().try_for_each(&mut handle))
    {
        Err(TranslateError::MalformedStream(_)) | Ok(()) => Ok(()),
        Err(other) => Err(other),
    }
}

/// The error of a chat stream that closed before its `finish_reason`.
pub(crate) const NO_FINISH_REASON: TranslateError = TranslateError::StreamIncomplete {
    expected: "a chunk with finish_reason",
};
