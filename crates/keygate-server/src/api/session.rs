//! `/api/session`: the web UI trades the admin token of its link for a session cookie, asks
//! whether it is signed in, and signs out (see `crate::sessions`).

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{AppendHeaders, IntoResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::sessions;

/// How this request was signed in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignedInBy {
    Token,
    Cookie,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    signed_in_by: SignedInBy,
    /// The cookie this engine's sessions use (named after its port).
    cookie: String,
}

fn signed_in_by(headers: &HeaderMap) -> SignedInBy {
    if headers.contains_key(AUTHORIZATION) {
        SignedInBy::Token
    } else {
        SignedInBy::Cookie
    }
}

/// Whether this browser is signed in, and how.
#[utoipa::path(get, path = "/api/session", tag = "meta", operation_id = "getSession",
    responses((status = 200, description = "signed in", body = SessionView)))]
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Json<SessionView> {
    Json(SessionView {
        signed_in_by: signed_in_by(&headers),
        cookie: sessions::cookie_name(state.port()),
    })
}

/// Opens a browser session: answers with an `HttpOnly`, `SameSite=Strict` cookie for this
/// engine's origin, so new tabs and bookmarks work without the link.
#[utoipa::path(post, path = "/api/session", tag = "meta", operation_id = "openSession",
    responses((status = 200, description = "the session cookie is set", body = SessionView)))]
pub async fn open(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    if let Some(old) = sessions::from_headers(&headers, state.port()) {
        state.sessions().close(&old);
    }
    let id = state.sessions().open();
    (
        AppendHeaders([(SET_COOKIE, sessions::set_cookie(state.port(), &id))]),
        Json(SessionView {
            signed_in_by: signed_in_by(&headers),
            cookie: sessions::cookie_name(state.port()),
        }),
    )
}

#[derive(Serialize, ToSchema)]
pub struct SignedOut {
    signed_out: bool,
}

/// Ends this browser's session and clears its cookie.
#[utoipa::path(delete, path = "/api/session", tag = "meta", operation_id = "closeSession",
    responses((status = 200, description = "signed out", body = SignedOut)))]
pub async fn close(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let had = sessions::from_headers(&headers, state.port());
    if let Some(id) = &had {
        state.sessions().close(id);
    }
    let clear: HeaderValue = sessions::clear_cookie(state.port());
    (
        AppendHeaders([(SET_COOKIE, clear)]),
        Json(SignedOut {
            signed_out: had.is_some(),
        }),
    )
}
