//! Reading just what the proxy needs from an OpenAI-style request body — model, stream flags,
//! a session id — without building a JSON tree: fields are borrowed as raw slices and only
//! the few that matter are decoded. The body itself goes upstream untouched unless KeyGate
//! must change it (another model name for a tier, `include_usage` for a stream).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt_cache_key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

/// What the proxy reads of a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Peek {
    /// `model`, when it is a non-empty string.
    pub model: Option<String>,
    pub stream: bool,
    /// `stream_options.include_usage` as the client set it.
    pub include_usage: Option<bool>,
    /// The client's conversation id, if it names one (`prompt_cache_key`, `user`,
    /// `metadata.user_id`, in that order).
    pub session: Option<String>,
}

/// Reads `body`; the error text says why it is not a JSON object.
pub fn peek(body: &[u8]) -> Result<Peek, String> {
    // A derived struct would also accept an array; only an object is a request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| e.to_string())?;
        return Err("the request body must be a JSON object".into());
    }
    let fields: Fields<'_> = serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        if e.is_data() && !text.contains("duplicate field") {
            "the request body must be a JSON object".to_string()
        } else {
            text
        }
    })?;
    let string = |raw: Option<&RawValue>| {
        raw.and_then(|r| serde_json::from_str::<Cow<'_, str>>(r.get()).ok())
            .filter(|s| !s.is_empty())
            .map(Cow::into_owned)
    };
    let boolean = |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str(r.get()).ok());
    let nested = |raw: Option<&RawValue>, field: &str| {
        raw.and_then(|r| serde_json::from_str::<Map<String, Value>>(r.get()).ok())
            .and_then(|mut m| m.remove(field))
    };
    let metadata_user = nested(fields.metadata, "user_id")
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty());
    Ok(Peek {
        model: string(fields.model),
        stream: boolean(fields.stream) == Some(true),
        include_usage: nested(fields.stream_options, "include_usage").and_then(|v| v.as_bool()),
        session: string(fields.prompt_cache_key)
            .or_else(|| string(fields.user))
            .or(metadata_user),
    })
}

/// The body to send to a tier: the client's bytes when nothing changes, else a copy with
/// `model` replaced and `stream_options.include_usage` set as asked.
pub fn upstream_body(
    body: &bytes::Bytes,
    parsed: &mut Option<Value>,
    model: Option<&str>,
    include_usage: bool,
) -> Result<bytes::Bytes, String> {
    if model.is_none() && !include_usage {
        return Ok(body.clone());
    }
    if parsed.is_none() {
        *parsed = Some(serde_json::from_slice(body).map_err(|e| e.to_string())?);
    }
    let Some(Value::Object(object)) = parsed.as_mut() else {
        return Err("the request body must be a JSON object".into());
    };
    if let Some(model) = model {
        object.insert("model".into(), Value::String(model.to_string()));
    }
    if include_usage {
        let options = object
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if !options.is_object() {
            *options = Value::Object(Map::new());
        }
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    serde_json::to_vec(object)
        .map(bytes::Bytes::from)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_that_matter_and_ignores_the_rest() {
        let p = peek(br#"{"messages":[{"role":"user","content":"hi \"x\""}],"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"user":"u1"}"#)
            .expect("valid");
        assert_eq!(
            p,
            Peek {
                model: Some("gpt-4o".into()),
                stream: true,
                include_usage: Some(false),
                session: Some("u1".into()),
            }
        );
        let p = peek(br#"{"model":"m","metadata":{"user_id":"conv-9"},"prompt_cache_key":""}"#)
            .expect("valid");
        assert_eq!(p.session.as_deref(), Some("conv-9"));
    }

    #[test]
    fn odd_types_are_treated_as_absent_and_bad_json_is_an_error() {
        let p = peek(br#"{"model":42,"stream":"yes","metadata":[1],"user":null}"#).expect("valid");
        assert_eq!(p, Peek::default());
        assert!(peek(b"{nope").is_err());
        assert_eq!(
            peek(b"[1,2]").expect_err("not an object"),
            "the request body must be a JSON object"
        );
        assert!(
            peek(br#"{"model":"a","model":"b"}"#).is_err(),
            "duplicate fields are refused"
        );
    }

    #[test]
    fn the_body_is_passed_untouched_unless_something_changes() {
        let body = bytes::Bytes::from_static(br#"{"model":"alias","stream":true,"x":1}"#);
        let mut parsed = None;
        let same = upstream_body(&body, &mut parsed, None, false).expect("same");
        assert_eq!(same.as_ptr(), body.as_ptr(), "no copy");
        assert!(parsed.is_none(), "not parsed");
        let changed = upstream_body(&body, &mut parsed, Some("gpt-4o"), true).expect("changed");
        let json: Value = serde_json::from_slice(&changed).expect("json");
        assert_eq!(json["model"], "gpt-4o");
        assert_eq!(json["stream_options"]["include_usage"], true);
        assert_eq!(json["x"], 1);
    }
}
