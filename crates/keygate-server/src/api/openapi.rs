//! The admin API's OpenAPI 3.1 document, built from the handlers' `#[utoipa::path]`
//! annotations and served at `GET /api/openapi.json` (behind the admin token, like the rest of
//! `/api`). A copy is checked in as `ui/openapi.json`; the UI's types (`ui/src/lib/openapi.d.ts`)
//! are generated from it with `npm --prefix ui run gen:api`. The paths come from the routers in
//! `api/mod.rs` (utoipa-axum's `routes!`), so a route cannot be left out of the document; the
//! tests below keep the checked-in copy current.

use std::collections::BTreeSet;

use axum::Json;
use serde_json::{Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The security scheme every admin route requires (named again in `#[openapi(security)]`).
const ADMIN_TOKEN: &str = "admin_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "KeyGate admin API",
        version = "1",
        description = "The local admin API of the KeyGate engine. Every route but `GET /api/health` \
            needs `Authorization: Bearer <admin token>`; the Host header must be the engine's own \
            loopback address. Errors are `{\"error\": {code, message, fields?}}`."
    ),
    // Sent on the event stream, which the document can only describe as text; and the chart
    // names, which the path carries as `NAME.svg`.
    components(schemas(crate::events::Event, crate::charts::ChartName)),
    modifiers(&AdminTokenScheme),
    security(("admin_token" = [])),
)]
struct ApiDoc;

struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON, with two facts utoipa cannot see from the types added:
/// - every answer carries every field: serde writes `null` for a `None`, so in schemas used in
///   answers an `Option` field is required (and nullable). In request bodies it stays optional,
///   because there an absent field reads as `None`.
/// - every route behind the admin token can answer 401 (the `admin_auth` layer, not the handler).
pub fn document() -> Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::routed_paths());
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    let request_bodies = request_body_schemas(&doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            if !request_bodies.contains(name) {
                require_nullable_properties(schema);
            }
        }
    }
    add_unauthorized(&mut doc);
    doc
}

/// `GET /api/openapi.json`: this API's OpenAPI document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", operation_id = "getOpenApi",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> Json<Value> {
    Json(document())
}

/// The names of the component schemas that are some operation's request body.
fn request_body_schemas(doc: &Value) -> BTreeSet<String> {
    let operations = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values());
    operations
        .filter_map(|op| op.pointer("/requestBody/content")?.as_object())
        .flat_map(|content| content.values())
        .filter_map(|media| media.pointer("/schema/$ref")?.as_str())
        .filter_map(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_string)
        .collect()
}

fn require_nullable_properties(schema: &mut Value) {
    // A struct with a `#[serde(flatten)]` field is an `allOf` of the parts.
    if let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) {
        parts.iter_mut().for_each(require_nullable_properties);
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let already: BTreeSet<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let required: Vec<Value> = properties
        .iter()
        .filter(|(name, property)| already.contains(*name) || is_nullable(property))
        .map(|(name, _)| Value::String(name.clone()))
        .collect();
    schema["required"] = Value::Array(required);
}

/// `type: [T, "null"]`, or `oneOf: [{type: "null"}, …]` for a reference.
fn is_nullable(schema: &Value) -> bool {
    let null = Value::String("null".into());
    schema["type"].as_array().is_some_and(|t| t.contains(&null))
        || schema["oneOf"]
            .as_array()
            .is_some_and(|one_of| one_of.iter().any(|s| s["type"] == null))
}

fn add_unauthorized(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        // `security: [{}]` marks the one route that needs no token.
        let public = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| r.is_empty()))
        });
        if public {
            continue;
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.insert(
                "401".into(),
                json!({
                    "description": "no admin token, or a wrong one",
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/ErrorBody" }
                    } }
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::document;

    /// Every route is documented: what the router answers for each documented path and method
    /// is never the catch-all's "no such API endpoint".
    #[test]
    fn the_document_names_the_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() > 30, "too few paths: {}", paths.len());
        assert!(paths.contains_key("/api/keys/{id}"));
        assert!(paths["/api/health-check/force/{id}"]["post"].is_object());
        assert!(paths["/api/session"]["delete"].is_object());
    }

    #[test]
    fn every_admin_route_needs_the_token_and_health_does_not() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                let has_401 = op["responses"].get("401").is_some();
                assert_eq!(has_401, path != "/api/health", "{method} {path}");
            }
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["admin_token"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn answers_carry_their_null_fields_and_requests_may_omit_them() {
        let doc = document();
        let required = |schema: &str| -> Vec<String> {
            doc["components"]["schemas"][schema]["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        assert!(required("KeyView").contains(&"expires_at".to_string()));
        assert!(required("KeyLimits").contains(&"rpm".to_string()));
        assert!(!required("LimitsBody").contains(&"rpm".to_string()));
        assert!(!required("ErrorDetail").contains(&"fields".to_string()));
    }

    /// `ui/openapi.json` is what the UI's types are generated from. `KEYGATE_WRITE_OPENAPI=1
    /// cargo test -p keygate-server openapi` rewrites it; then run `npm --prefix ui run gen:api`.
    #[test]
    fn ui_openapi_json_is_the_generated_document() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/openapi.json");
        let doc = document();
        if std::env::var("KEYGATE_WRITE_OPENAPI").as_deref() == Ok("1") {
            let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
            std::fs::write(&path, text).expect("write ui/openapi.json");
            return;
        }
        let text = std::fs::read_to_string(&path).expect("read ui/openapi.json");
        let checked_in: Value = serde_json::from_str(&text).expect("ui/openapi.json is JSON");
        assert!(
            checked_in == doc,
            "ui/openapi.json is stale: run `KEYGATE_WRITE_OPENAPI=1 cargo test -p keygate-server \
             openapi`, then `npm --prefix ui run gen:api`"
        );
    }
}
