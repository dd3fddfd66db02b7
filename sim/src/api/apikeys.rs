//! A user's API keys: list (paged, newest first, optionally filtered by `partialPurpose`),
//! create (with Octopus's rules on who may create for whom and on `Expires`), read one, and
//! delete. Acting on another user's keys needs `UserEdit`.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{Answer, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::{ApiKey, User};
use crate::render::{
    error, forbidden, invalid, listed_key_json, method_not_allowed, not_found, not_owned, paged,
};
use crate::state::State;

/// `/api/users/{id}/apikeys` and below; `rest` is what follows `apikeys`.
pub(crate) fn route(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    now: Timestamp,
    method: &str,
    user_id: &str,
    rest: &[&str],
) -> Answer {
    let Some(owner) = state.user(user_id).cloned() else {
        return done(not_found(user_id));
    };
    if owner.id != actor.user.id && !actor.user.has_permission("UserEdit") {
        return done(forbidden("UserEdit"));
    }
    match (method, rest) {
        ("GET", []) => done(list(state, request, &owner)),
        ("POST", []) => create(state, actor, request, &owner, now),
        ("GET", [key_id]) => done(match state.keys.iter().find(|k| k.id == *key_id) {
            None => not_found(key_id),
            Some(key) if key.user_id != owner.id => not_owned(),
            Some(key) => Response::json(200, &listed_key_json(key)),
        }),
        ("DELETE", [key_id]) => delete(state, actor, &owner, key_id),
        _ => done(method_not_allowed()),
    }
}

fn list(state: &State, request: &Request, owner: &User) -> Response {
    let partial = request
        .query("partialPurpose")
        .filter(|p| !p.is_empty() && state.options.partial_purpose);
    let partial_lower = partial.as_ref().map(|p| p.to_lowercase());
    let mut keys: Vec<&ApiKey> = state
        .keys
        .iter()
        .filter(|k| k.user_id == owner.id)
        .filter(|k| {
            partial_lower
                .as_ref()
                .is_none_or(|p| k.purpose.to_lowercase().contains(p.as_str()))
        })
        .collect();
    keys.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));

    let extra: Vec<(&str, String)> = partial
        .iter()
        .map(|p| ("partialPurpose", p.clone()))
        .collect();
    paged(
        request,
        "ApiKey",
        keys,
        listed_key_json,
        state.options.max_take,
        &format!("/api/users/{}/apikeys", owner.id),
        &extra,
    )
}

fn create(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    owner: &User,
    now: Timestamp,
) -> Answer {
    let refuse = |message: &str| done(invalid(message));
    if owner.id != actor.user.id && !owner.is_service {
        return refuse(
            "API keys can only be created for your own account or for a service account.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return refuse("The request body is not valid JSON.");
    };
    let purpose = body
        .get("Purpose")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if purpose.is_empty() {
        return refuse("Please provide a purpose for this API key.");
    }
    if let Some(user_id) = body.get("UserId").and_then(Value::as_str)
        && user_id != owner.id
    {
        return refuse("The UserId in the body does not match the user in the URL.");
    }
    let max = now + SignedDuration::from_hours(24 * state.options.max_expiry_days);
    let expires = match body.get("Expires") {
        None => now + SignedDuration::from_hours(24 * state.options.default_expiry_days),
        Some(Value::Null) => max,
        Some(Value::String(text)) => match text.parse::<Timestamp>() {
            Ok(at) => at,
            Err(_) => return refuse("The expiry date is not a valid date."),
        },
        Some(_) => return refuse("The expiry date is not a valid date."),
    };
    if expires <= now {
        return refuse("The expiry date must be in the future.");
    }
    if expires > max {
        let days = state.options.max_expiry_days;
        return refuse(&format!(
            "The expiry date cannot be more than {days} days in the future."
        ));
    }
    if actor.key_expires.is_some_and(|limit| expires > limit) {
        return refuse(
            "The expiry date cannot be after the expiry of the API key used to create it.",
        );
    }
    let (id, secret) = state.insert_key(&owner.id, &purpose, now, Some(expires));
    let key = state
        .keys
        .iter()
        .find(|k| k.id == id)
        .expect("just inserted")
        .clone();
    let mut body = listed_key_json(&key);
    body["ApiKey"] = Value::String(secret);
    (
        Response::json(200, &body),
        format!("Created API key '{purpose}' for {}", owner.username),
    )
}

fn delete(state: &mut State, actor: &Actor, owner: &User, key_id: &str) -> Answer {
    let Some(index) = state.keys.iter().position(|k| k.id == key_id) else {
        return done(not_found(key_id));
    };
    if state.keys[index].user_id != owner.id {
        return done(not_owned());
    }
    if actor.key_id.as_deref() == Some(key_id) && !state.options.allow_self_delete {
        return done(error(
            403,
            "An API key cannot be used to delete itself.",
            &[],
        ));
    }
    let key = state.keys.remove(index);
    (
        Response::json(200, &json!({})),
        format!("Deleted API key '{}' of {}", key.purpose, owner.username),
    )
}
