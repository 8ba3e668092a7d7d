//! Refusals: [`ApiError`] carries a status, a message that says what went
//! wrong, and where known the JSON Pointer of the field at fault and a hint
//! that says how to fix it. On the wire it is an RFC 9457 problem document
//! (`application/problem+json`); the client turns one back into an
//! [`ApiError`], so the CLI prints what the server said.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A refused request: an HTTP status and a message that says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.explained())]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What went wrong.
    pub message: String,
    /// The JSON Pointer of the request field at fault (`""`: the whole body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// How to fix it, where the message does not already say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Seconds to wait before trying again (429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A refusal with `status`.
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            pointer: None,
            hint: None,
            retry_after: None,
        }
    }

    /// 422: the request is well-formed but a value in it is wrong.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, message)
    }

    /// 400: the request cannot be read (not JSON, wrong types, unknown
    /// fields, a path segment that is not a number).
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }

    /// 404: what it names does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }

    /// 409: it conflicts with what exists.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }

    /// 503: the browser (or something it needs) is not available.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, message)
    }

    /// 500: our fault.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, message)
    }

    /// The same refusal, naming the field at `pointer`.
    pub fn at(mut self, pointer: impl Into<String>) -> ApiError {
        self.pointer = Some(pointer.into());
        self
    }

    /// The same refusal, with how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// The message and, where it adds something, the hint: what the CLI
    /// prints.
    pub fn explained(&self) -> String {
        match &self.hint {
            Some(h) if !self.message.contains(h.as_str()) => format!("{}: {h}", self.message),
            _ => self.message.clone(),
        }
    }

    /// The problem document for this refusal.
    pub fn problem(&self) -> Problem {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: self.message.clone(),
            pointer: self.pointer.clone(),
            hint: self.hint.clone(),
        }
    }

    /// Back from a problem document the server sent with `status`.
    pub fn from_problem(status: u16, body: &serde_json::Value) -> ApiError {
        let text = |k: &str| body[k].as_str().map(str::to_string);
        ApiError {
            status,
            message: text("detail")
                .or_else(|| text("title"))
                .unwrap_or_else(|| format!("request refused with HTTP {status}")),
            pointer: text("pointer"),
            hint: text("hint"),
            retry_after: body["retry_after"].as_u64(),
        }
    }
}

/// An RFC 9457 problem document, with two extension members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says the kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
    /// The JSON Pointer of the request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = serde_json::to_value(&problem).unwrap_or_default();
        if let Some(s) = self.retry_after {
            body["retry_after"] = s.into();
        }
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_goes_out_and_comes_back_as_the_same_refusal() {
        let e = ApiError::malformed("url ftp://x/ is not http or https")
            .at("/url")
            .hint("give an http:// or https:// address");
        let wire = serde_json::to_value(e.problem()).unwrap();
        assert_eq!(wire["type"], "about:blank");
        assert_eq!(wire["title"], "Bad Request");
        assert_eq!(wire["pointer"], "/url");
        assert_eq!(ApiError::from_problem(400, &wire), e);
        assert_eq!(
            e.explained(),
            "url ftp://x/ is not http or https: give an http:// or https:// address"
        );
    }
}
