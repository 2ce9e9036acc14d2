//! Content both protocols carry under different spellings: images and runs of text parts.
//! Images are checked here, once, so every route gives a client the same answer.

use serde_json::{Value, json};

use super::error::TranslateError;

/// The image types Anthropic accepts; OpenAI-compatible servers accept these too.
const SUPPORTED_MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Anthropic's per-image limit. Applied going to OpenAI as well, because the client there spoke
/// Anthropic's protocol and would have been refused by Anthropic itself.
const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// A required string field of a request object; the error names `path.key` (just `key` at the
/// top level, where `path` is empty).
pub(crate) fn required_str<'a>(
    value: &'a Value,
    key: &str,
    path: &str,
) -> Result<&'a str, TranslateError> {
    value.get(key).and_then(Value::as_str).ok_or_else(|| {
        let field = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        TranslateError::request(field, "required string is missing")
    })
}

/// A string field that is present and not empty: upstreams send `""` and `null` for "nothing".
pub(crate) fn non_empty_str<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// The `type` of a content block or part.
pub(crate) fn kind_of(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Text of a field that is either a string or an array of `{"type":"text","text":..}` parts,
/// which is how both protocols spell system prompts and tool output.
pub(crate) fn joined_text(
    content: Option<&Value>,
    path: &str,
    separator: &str,
) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                let part_path = format!("{path}[{i}]");
                match kind_of(part) {
                    "text" => texts.push(required_str(part, "text", &part_path)?),
                    other => {
                        return Err(TranslateError::request(
                            part_path,
                            format!("only text parts are allowed here, found {other:?}"),
                        ));
                    }
                }
            }
            Ok(texts.join(separator))
        }
        Some(_) => Err(TranslateError::request(
            path,
            "expected a string or an array of text parts",
        )),
    }
}

/// Anthropic `{"type":"image","source":..}` → OpenAI `{"type":"image_url","image_url":{"url":..}}`.
pub(crate) fn anthropic_image_to_chat(block: &Value, path: &str) -> Result<Value, TranslateError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let url = match kind_of(source) {
        "base64" => {
            let media_type = checked_media_type(
                required_str(source, "media_type", &format!("{path}.source"))?,
                path,
            )?;
            let data = required_str(source, "data", &format!("{path}.source"))?;
            check_size(data, path)?;
            format!("data:{media_type};base64,{data}")
        }
        "url" => checked_url(
            required_str(source, "url", &format!("{path}.source"))?,
            path,
        )?
        .to_owned(),
        other => {
            return Err(TranslateError::request(
                format!("{path}.source"),
                format!("image source type {other:?} has no OpenAI equivalent (use base64 or url)"),
            ));
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// OpenAI `image_url` part → Anthropic image block. `detail` is dropped: Anthropic sizes images
/// itself and has no such knob.
pub(crate) fn chat_image_to_anthropic(part: &Value, path: &str) -> Result<Value, TranslateError> {
    let image_url = part.get("image_url").unwrap_or(&Value::Null);
    // Some clients send the URL directly instead of wrapped in an object.
    let url = match image_url {
        Value::String(url) => url.as_str(),
        other => required_str(other, "url", &format!("{path}.image_url"))?,
    };
    let Some(data_url) = url.strip_prefix("data:") else {
        return Ok(
            json!({"type": "image", "source": {"type": "url", "url": checked_url(url, path)?}}),
        );
    };
    let (meta, data) = data_url.split_once(',').ok_or_else(|| {
        TranslateError::request(path, "image data URL has no ',' before its data")
    })?;
    let media_type = meta.strip_suffix(";base64").ok_or_else(|| {
        TranslateError::request(
            path,
            "image data URL must be base64-encoded (data:<type>;base64,...)",
        )
    })?;
    let media_type = checked_media_type(media_type, path)?;
    check_size(data, path)?;
    Ok(
        json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
    )
}

fn checked_media_type(media_type: &str, path: &str) -> Result<String, TranslateError> {
    let normalized = media_type.trim().to_ascii_lowercase();
    if SUPPORTED_MEDIA_TYPES.contains(&normalized.as_str()) {
        Ok(normalized)
    } else {
        Err(TranslateError::request(
            path,
            format!(
                "image media type {media_type:?} is not supported (use image/jpeg, image/png, image/gif or image/webp)"
            ),
        ))
    }
}

fn checked_url<'a>(url: &'a str, path: &str) -> Result<&'a str, TranslateError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Ok(url)
    } else {
        Err(TranslateError::request(
            path,
            "image URL must be http(s) or a base64 data URL",
        ))
    }
}

fn check_size(base64: &str, path: &str) -> Result<(), TranslateError> {
    let decoded = base64.trim_end_matches('=').len() * 3 / 4;
    if decoded <= MAX_IMAGE_BYTES {
        return Ok(());
    }
    #[allow(clippy::cast_precision_loss)] // two decimals of megabytes, for a message
    let megabytes = decoded as f64 / (1024.0 * 1024.0);
    Err(TranslateError::request(
        path,
        format!("image is {megabytes:.2} MB ({decoded} bytes) decoded; the limit is 5 MB"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_image_becomes_a_data_url_and_back() {
        let anthropic = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
        let openai = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}});
        assert_eq!(
            anthropic_image_to_chat(&anthropic, "p").expect("translates"),
            openai
        );
        assert_eq!(
            chat_image_to_anthropic(&openai, "p").expect("translates"),
            anthropic
        );
    }

    #[test]
    fn url_image_passes_through_both_ways() {
        let anthropic = json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}});
        let openai =
            json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}});
        assert_eq!(
            anthropic_image_to_chat(&anthropic, "p").expect("translates"),
            openai
        );
        assert_eq!(
            chat_image_to_anthropic(&openai, "p").expect("translates"),
            anthropic
        );
    }

    #[test]
    fn image_over_five_megabytes_is_refused_with_its_size() {
        let data = "A".repeat(7_000_000);
        let openai = json!({"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{data}")}});
        let err = chat_image_to_anthropic(&openai, "messages[1].content[2]").expect_err("too big");
        assert_eq!(
            err.to_string(),
            "messages[1].content[2]: image is 5.01 MB (5250000 bytes) decoded; the limit is 5 MB"
        );
        let exactly_limit = "A".repeat(MAX_IMAGE_BYTES / 3 * 4);
        let anthropic = json!({"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": exactly_limit}});
        assert!(anthropic_image_to_chat(&anthropic, "p").is_ok());
    }

    #[test]
    fn unsupported_media_type_is_refused() {
        let anthropic = json!({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk0="}});
        let err = anthropic_image_to_chat(&anthropic, "messages[0].content[0]").expect_err("bmp");
        assert!(err.to_string().starts_with(
            "messages[0].content[0]: image media type \"image/bmp\" is not supported"
        ));
        let openai =
            json!({"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}});
        assert!(chat_image_to_anthropic(&openai, "p").is_err());
    }

    #[test]
    fn non_base64_data_url_and_odd_schemes_are_refused() {
        let plain = json!({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}});
        assert!(chat_image_to_anthropic(&plain, "p").is_err());
        let file = json!({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}});
        assert!(chat_image_to_anthropic(&file, "p").is_err());
        let file_source = json!({"type": "image", "source": {"type": "file", "file_id": "f_1"}});
        assert!(anthropic_image_to_chat(&file_source, "p").is_err());
    }

    #[test]
    fn text_parts_join_and_other_parts_are_refused() {
        let parts = json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]);
        assert_eq!(
            joined_text(Some(&parts), "system", "\n\n").expect("text"),
            "a\n\nb"
        );
        assert_eq!(joined_text(None, "system", "\n\n").expect("text"), "");
        let mixed = json!([{"type": "text", "text": "a"}, {"type": "image_url"}]);
        let err = joined_text(Some(&mixed), "messages[0].content", "\n").expect_err("image");
        assert_eq!(
            err.to_string(),
            "messages[0].content[1]: only text parts are allowed here, found \"image_url\""
        );
    }
}
