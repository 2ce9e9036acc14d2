//! The admin API's answers checked against its OpenAPI document, on every call the tests make
//! through [`crate::reliability::admin`] (and the in-process API tests): a field the handler
//! sends but the document does not name, a missing required field, a wrong type or an enum
//! value the document does not list fails the test that saw it. The document is
//! `ui/openapi.json`, which a unit test in keygate-server keeps equal to the engine's own.

use std::sync::LazyLock;

use serde_json::Value;

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../ui/openapi.json")).expect("ui/openapi.json is JSON")
});

/// Panics with what is wrong when `body` is not what the document says `method path` answers
/// with `status`. Paths no route serves (the JSON 404 of the catch-all) are not checked.
pub fn check_answer(method: &str, path: &str, status: u16, body: &Value) {
    if let Err(problem) = answer_problem(&DOCUMENT, method, path, status, body) {
        panic!(
            "{method} {path} answered {status} off its OpenAPI contract: {problem}\nbody: {body}"
        );
    }
}

fn answer_problem(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template_of(doc, path) else {
        return Ok(());
    };
    let Some(operation) = doc["paths"][template].get(method.to_ascii_lowercase()) else {
        return if matches!(status, 404 | 405) {
            Ok(())
        } else {
            Err(format!("{method} is not documented for {template}"))
        };
    };
    let schema = match operation["responses"].get(status.to_string()) {
        Some(response) => match response.pointer("/content/application~1json/schema") {
            Some(schema) => schema,
            // An image, an event stream: not JSON, nothing to check here.
            None => return Ok(()),
        },
        // Errors every route can give (a body axum could not read, a locked database) share
        // one shape whether or not the operation lists their status.
        None if status >= 400 => &serde_json::json!({ "$ref": "#/components/schemas/ErrorBody" }),
        None => return Err(format!("status {status} is not documented for {template}")),
    };
    if body.is_null() && status >= 400 {
        return Ok(());
    }
    validate(doc, schema, body, "$", true)
}

/// The documented path that `path` fills in, preferring literal segments over parameters
/// (`/api/keys/import` over `/api/keys/{id}`).
fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let parts: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let pattern: Vec<&str> = template.split('/').collect();
            let fits = pattern.len() == parts.len()
                && pattern
                    .iter()
                    .zip(&parts)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
            let params = pattern.iter().filter(|p| p.starts_with('{')).count();
            fits.then_some((params, template.as_str()))
        })
        .min()
        .map(|(_, template)| template)
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> Result<&'a Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            let target = doc
                .pointer(pointer)
                .ok_or_else(|| format!("the document has no {reference}"))?;
            resolve(doc, target)
        }
        None => Ok(schema),
    }
}

/// The property names an object schema allows, across `allOf` parts.
fn allowed_properties(doc: &Value, schema: &Value) -> Result<(Vec<String>, bool), String> {
    let schema = resolve(doc, schema)?;
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut open = schema
        .get("additionalProperties")
        .is_some_and(|extra| extra.is_object() || extra == &Value::Bool(true));
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (more, part_open) = allowed_properties(doc, part)?;
        names.extend(more);
        open |= part_open;
    }
    Ok((names, open))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `strict`: an object may hold only the properties its schema names.
fn validate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
) -> Result<(), String> {
    let schema = resolve(doc, schema)?;
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            validate(doc, part, value, at, false)?;
        }
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let problems: Vec<String> = choices
            .iter()
            .filter_map(|choice| validate(doc, choice, value, at, strict).err())
            .collect();
        if problems.len() == choices.len() {
            return Err(format!(
                "{at} fits none of its choices: {}",
                problems.join(" | ")
            ));
        }
    }
    if let Some(allowed) = schema.get("type") {
        let actual = type_name(value);
        let fits = |t: &Value| {
            t.as_str()
                .is_some_and(|t| t == actual || (t == "number" && actual == "integer"))
        };
        let ok = match allowed {
            Value::Array(types) => types.iter().any(fits),
            t => fits(t),
        };
        if !ok {
            return Err(format!("{at} is {actual}, the document says {allowed}"));
        }
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!(
            "{at} is {value}, not one of {}",
            Value::Array(values.clone())
        ));
    }
    if let Value::Array(items) = value
        && let Some(item_schema) = schema.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            validate(doc, item_schema, item, &format!("{at}[{i}]"), true)?;
        }
    }
    let Value::Object(fields) = value else {
        return Ok(());
    };
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            return Err(format!("{at} lacks the required field {name:?}"));
        }
    }
    let properties = schema["properties"].as_object();
    for (name, field) in fields {
        match properties.and_then(|p| p.get(name)) {
            Some(field_schema) => {
                validate(doc, field_schema, field, &format!("{at}.{name}"), true)?
            }
            None => {
                if let Some(extra) = schema.get("additionalProperties").filter(|e| e.is_object()) {
                    validate(doc, extra, field, &format!("{at}.{name}"), true)?;
                }
            }
        }
    }
    if strict && schema.get("oneOf").is_none() {
        let (allowed, open) = allowed_properties(doc, schema)?;
        let closed = !open && (schema.get("properties").is_some() || schema.get("allOf").is_some());
        if closed && let Some(name) = fields.keys().find(|k| !allowed.contains(k)) {
            return Err(format!(
                "{at} has the field {name:?}, which the document does not name"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{DOCUMENT, answer_problem};

    #[test]
    fn answers_off_the_document_are_caught() {
        let doc = &*DOCUMENT;
        let ok = json!({ "paused": true });
        assert_eq!(
            answer_problem(doc, "GET", "/api/proxy/state", 200, &ok),
            Ok(())
        );
        let extra = json!({ "paused": true, "secret": "x" });
        assert!(
            answer_problem(doc, "GET", "/api/proxy/state", 200, &extra)
                .expect_err("an extra field")
                .contains("secret")
        );
        let wrong = json!({ "paused": "yes" });
        assert!(answer_problem(doc, "GET", "/api/proxy/state", 200, &wrong).is_err());
        let missing = json!({});
        assert!(answer_problem(doc, "GET", "/api/proxy/state", 200, &missing).is_err());
        let error = json!({ "error": { "code": "x", "message": "m" } });
        assert_eq!(
            answer_problem(doc, "PUT", "/api/keys/k_1/limits", 409, &error),
            Ok(())
        );
        let bad_error = json!({ "error": "x" });
        assert!(answer_problem(doc, "PUT", "/api/keys/k_1/limits", 409, &bad_error).is_err());
        let batch = json!({ "action": "enable", "ids": ["k_1"] });
        assert_eq!(
            answer_problem(doc, "POST", "/api/keys/batch", 200, &batch),
            Ok(())
        );
        let batch = json!({ "action": "explode", "ids": ["k_1"] });
        assert!(answer_problem(doc, "POST", "/api/keys/batch", 200, &batch).is_err());
        assert!(answer_problem(doc, "GET", "/api/keys/import", 200, &json!({})).is_err());
        assert_eq!(
            answer_problem(doc, "GET", "/api/nothing/here", 404, &error),
            Ok(())
        );
    }
}
