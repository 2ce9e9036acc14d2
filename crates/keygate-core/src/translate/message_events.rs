//! Writing a well-formed Anthropic Messages event sequence: `message_start`, content blocks
//! with increasing indices, each stopped before the next starts, then `message_delta` and
//! `message_stop`. The OpenAI stream reader decides what to say; this decides how.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::error::TranslateError;
use super::sse::write_named_event;
use super::usage::StreamUsage;

/// The content block currently open. OpenAI streams one piece of content at a time, so at most
/// one block is ever open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text { index: u64 },
    Tool { index: u64, call: u64 },
}

#[derive(Debug, Default)]
pub(crate) struct MessageEvents {
    open: Option<OpenBlock>,
    next_index: u64,
    /// Anthropic cannot reopen a block, so a tool call that resumes after another block began
    /// is refused rather than split into two calls.
    closed_calls: HashSet<u64>,
    out: Vec<u8>,
}

impl MessageEvents {
    /// Takes the bytes written so far.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn start(&mut self, id: &str, model: &str, usage: StreamUsage) {
        let message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage.to_anthropic(),
        });
        self.write(json!({"type": "message_start", "message": message}));
    }

    pub fn text(&mut self, text: &str) {
        let index = match self.open {
            Some(OpenBlock::Text { index }) => index,
            _ => self.open_block(json!({"type": "text", "text": ""}), |index| {
                OpenBlock::Text { index }
            }),
        };
        self.delta(index, json!({"type": "text_delta", "text": text}));
    }

    /// Whether OpenAI tool call number `call` is the block currently open.
    pub fn is_open_call(&self, call: u64) -> bool {
        matches!(self.open, Some(OpenBlock::Tool { call: open, .. }) if open == call)
    }

    pub fn start_tool(&mut self, call: u64, id: &str, name: &str) -> Result<(), TranslateError> {
        if self.closed_calls.contains(&call) {
            return Err(TranslateError::MalformedStream(format!(
                "tool call {call} continued after another content block started"
            )));
        }
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        self.open_block(block, |index| OpenBlock::Tool { index, call });
        Ok(())
    }

    /// Appends argument JSON to the open tool call; callers start the tool first.
    pub fn tool_arguments(&mut self, fragment: &str) {
        if let Some(OpenBlock::Tool { index, .. }) = self.open {
            self.delta(
                index,
                json!({"type": "input_json_delta", "partial_json": fragment}),
            );
        }
    }

    pub fn close_block(&mut self) {
        let index = match self.open.take() {
            None => return,
            Some(OpenBlock::Text { index }) => index,
            Some(OpenBlock::Tool { index, call }) => {
                self.closed_calls.insert(call);
                index
            }
        };
        self.write(json!({"type": "content_block_stop", "index": index}));
    }

    /// Closes any open block and ends the message.
    pub fn end(&mut self, stop_reason: &str, usage: StreamUsage) {
        self.close_block();
        self.write(json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage.to_anthropic(),
        }));
        self.write(json!({"type": "message_stop"}));
    }

    fn open_block(&mut self, content_block: Value, open: impl FnOnce(u64) -> OpenBlock) -> u64 {
        self.close_block();
        let index = self.next_index;
        self.next_index += 1;
        self.write(
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        );
        self.open = Some(open(index));
        index
    }

    fn delta(&mut self, index: u64, delta: Value) {
        self.write(json!({"type": "content_block_delta", "index": index, "delta": delta}));
    }

    /// Every Anthropic event is named after its data's `type`.
    fn write(&mut self, data: Value) {
        let name = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        write_named_event(&mut self.out, &name, &data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_streams::parsed_events;

    fn summary(events: &mut MessageEvents) -> Vec<String> {
        parsed_events(&events.take())
            .into_iter()
            .map(|(name, data)| match data.get("index") {
                Some(index) => format!("{name}#{index}"),
                None => name,
            })
            .collect()
    }

    #[test]
    fn blocks_get_increasing_indices_and_are_stopped_before_the_next() {
        let mut events = MessageEvents::default();
        events.start("msg_1", "m", StreamUsage::default());
        events.text("a");
        events.text("b");
        events.start_tool(0, "call_1", "f").expect("new call");
        events.tool_arguments("{}");
        events.text("c");
        events.end("end_turn", StreamUsage::default());
        #[rustfmt::skip]
        let expected = [
            "message_start",
            "content_block_start#0", "content_block_delta#0", "content_block_delta#0", "content_block_stop#0",
            "content_block_start#1", "content_block_delta#1", "content_block_stop#1",
            "content_block_start#2", "content_block_delta#2", "content_block_stop#2",
            "message_delta", "message_stop",
        ];
        assert_eq!(summary(&mut events), expected);
    }

    #[test]
    fn tool_call_resumed_after_another_block_is_refused() {
        let mut events = MessageEvents::default();
        events.start_tool(0, "call_1", "f").expect("new call");
        assert!(events.is_open_call(0));
        events.start_tool(1, "call_2", "g").expect("new call");
        assert!(!events.is_open_call(0));
        let err = events.start_tool(0, "call_1", "f").expect_err("resumed");
        assert_eq!(
            err.to_string(),
            "upstream stream: tool call 0 continued after another content block started"
        );
    }

    #[test]
    fn arguments_without_an_open_tool_are_not_written() {
        let mut events = MessageEvents::default();
        events.tool_arguments("{}");
        events.close_block();
        assert!(events.take().is_empty());
    }
}
