//! Request bodies: [`Body<T>`] reads a JSON body and names the field at
//! fault by JSON Pointer (`serde_path_to_error`), so a wrong type, an
//! unknown field or a missing one is a 400 that says where. The body's size is limited
//! by the router (`DefaultBodyLimit`): over it is a 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::problem::ApiError;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// The JSON Pointer (RFC 6901) of a serde path.
fn pointer(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.clone(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// What serde said, without its position suffix (the pointer says where).
fn reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Parses `bytes` as a `T`, or the refusal naming where it is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed("the request body is empty")
            .at("")
            .hint("send a JSON object with Content-Type: application/json"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = pointer(e.path());
        let inner = e.into_inner();
        let field = if at.is_empty() {
            "the request body".to_string()
        } else {
            format!("field {at}")
        };
        let hint = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "send well-formed JSON (UTF-8, nested at most 128 deep)"
            }
            _ => "see the operation's request schema in GET /api/v1/openapi.json",
        };
        ApiError::malformed(format!("{field}: {}", reason(&inner)))
            .at(at)
            .hint(hint)
    })?;
    de.end().map_err(|e| {
        ApiError::malformed(format!("the request body: {}", reason(&e)))
            .at("")
            .hint("send exactly one JSON value")
    })?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status().as_u16();
            if status == 413 {
                ApiError::new(413, "the request body is over this route's limit")
                    .hint("send less at once (1 MB per request, 16 MB for imports)")
            } else {
                ApiError::new(status, format!("the request body: {}", e.body_text()))
            }
        })?;
        // Every request body is an object; serde would also read a struct
        // from an array.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(ApiError::malformed("the request body is not a JSON object")
                .at("")
                .hint(
                    "send a JSON object ({...}) with the fields of the operation's request schema",
                ));
        }
        parse(&bytes).map(Body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[test]
    fn each_fault_is_named_by_its_pointer() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"name": 5, "items": []}"#, "/name", "invalid type"),
            (
                r#"{"name": "a", "items": [{"port": 1}, {"port": -1}]}"#,
                "/items/1/port",
                "invalid value",
            ),
            (
                r#"{"name": "a", "items": [{"port": 70000}]}"#,
                "/items/0/port",
                "invalid value",
            ),
            (
                r#"{"name": "a", "items": [], "extra": 1}"#,
                "/extra",
                "unknown field `extra`",
            ),
            (r#"{"items": []}"#, "", "missing field `name`"),
            (r#"{"name": "a""#, "", "EOF"),
            ("", "", "empty"),
            (
                r#"{"name": "a", "items": []} {}"#,
                "",
                "trailing characters",
            ),
        ];
        for (body, at, says) in cases {
            let e = parse::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.pointer.as_deref(), Some(*at), "{body}: {e:?}");
            assert!(e.message.contains(says), "{body}: {e:?}");
            assert!(!e.message.contains("line 1"), "{body}: {e:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = parse::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e:?}");
        let e = parse::<Outer>(b"{\"name\": \"\xff\", \"items\": []}").unwrap_err();
        assert!(
            e.message.contains("invalid unicode") || e.message.contains("UTF-8"),
            "{e:?}"
        );
        assert!(parse::<Outer>(br#"{"name": "a", "items": [{"port": 8}]}"#).is_ok());
    }
}
