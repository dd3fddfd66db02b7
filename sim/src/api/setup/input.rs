//! What the setup endpoints take from a request, each the way Octopus answers when it is
//! wrong: the caller's permission (403 naming it), the body as a JSON object (400 otherwise)
//! and its text and list fields, and the `partialName` filter of a listing (which the names
//! of fabricated items honour too).

use serde_json::Value;

use crate::api::answer::{Answer, done};
use crate::auth::Actor;
use crate::http::Request;
use crate::render::{forbidden, invalid};

/// `Err(403)` unless the caller holds `permission`.
pub(super) fn require(actor: &Actor, permission: &str) -> Result<(), Answer> {
    if actor.user.has_permission(permission) {
        Ok(())
    } else {
        Err(done(forbidden(permission)))
    }
}

/// The request body as a JSON object, or the 400 Octopus gives for anything else.
pub(super) fn json_body(request: &Request) -> Result<serde_json::Map<String, Value>, Answer> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(done(invalid(
            "The request body is not a valid JSON object.",
        ))),
    }
}

/// A string field of a body, `""` when missing or not a string.
pub(super) fn text<'a>(body: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or("")
}

/// A list of strings from a body (missing: empty).
pub(super) fn string_list(body: &serde_json::Map<String, Value>, name: &str) -> Vec<String> {
    body.get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The name of a fabricated item `n` of a listing that never ends (`Paging::Endless`):
/// it holds the `partialName` asked for, as every item of a filtered listing does, but is
/// never that name itself.
pub(super) fn fabricated_name(partial: Option<&str>, n: u64) -> String {
    match partial {
        Some(partial) => format!("{partial} (fabricated {n})"),
        None => format!("Fabricated {n}"),
    }
}

/// Whether `name` contains `partial`, ignoring case (Octopus's `partialName`).
pub(super) fn contains(name: &str, partial: Option<&str>) -> bool {
    partial.is_none_or(|p| name.to_lowercase().contains(&p.to_lowercase()))
}
