//! What every operation shares, added to the generated document: the
//! bearer scheme (required everywhere) and the refusals any route can give,
//! each a problem document.

use utoipa::Modify;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};

use crate::problem::PROBLEM_JSON;

/// The refusals every route can give, with what each means.
pub const REFUSALS: &[(&str, &str)] = &[
    (
        "400",
        "the request cannot be read (not JSON, a wrong type, an unknown field): `pointer` names the field",
    ),
    ("401", "no token, or the wrong one"),
    (
        "403",
        "a change, or the events socket, from another origin or site",
    ),
    ("404", "what the path names does not exist"),
    ("405", "the route does not take this method"),
    ("409", "it conflicts with what exists"),
    ("413", "the body is over the route's limit"),
    ("415", "a change whose body is not JSON"),
    ("421", "the Host is not one of the API's own"),
    (
        "422",
        "a value is well-formed but wrong: `pointer` names it, `hint` says how to fix it",
    ),
    (
        "429",
        "too many requests: `Retry-After` says how long to wait",
    ),
    (
        "500",
        "an internal error (logged with the id the detail gives)",
    ),
    ("503", "the browser or the daemon cannot do it now"),
];

/// Adds the bearer scheme and the shared refusals.
pub(crate) struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut OpenApi) {
        if let Some(components) = doc.components.as_mut() {
            // Tagged enums deny unknown fields like every request type;
            // utoipa does not say so for their variants.
            for schema in components.schemas.values_mut() {
                if let RefOr::T(Schema::OneOf(one_of)) = schema {
                    for item in &mut one_of.items {
                        if let RefOr::T(Schema::Object(object)) = item {
                            object
                                .additional_properties
                                .get_or_insert(Box::new(AdditionalProperties::FreeForm(false)));
                        }
                    }
                }
            }
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            for (status, meaning) in REFUSALS {
                let problem = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build();
                let response = ResponseBuilder::new()
                    .description(*meaning)
                    .content(PROBLEM_JSON, problem)
                    .build();
                components
                    .responses
                    .insert(format!("Problem{status}"), RefOr::T(response));
            }
        }
        doc.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for (status, _) in REFUSALS {
                    op.responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert(RefOr::Ref(Ref::from_response_name(format!(
                            "Problem{status}"
                        ))));
                }
            }
        }
    }
}
