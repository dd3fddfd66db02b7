//! A user's API keys: list (paged, newest first, `partialPurpose` treated as the options
//! say), create (with Octopus's rules on who may create for whom and on `Expires`, and an
//! `AccessLevel` treated as the options say), read one, and delete. Acting on another user's keys needs `UserEdit`, but a key id that
//! belongs to a different user than the one in the path is refused as such first.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::faults::{AccessLevelField, ExpiryMode, PartialPurpose, TokenExpiryRule};
use crate::http::{Request, Response};
use crate::ids;
use crate::model::{AccessLevel, ApiKey, User};
use crate::render::{
    PageOf, error, forbidden, invalid, listed_key_json, method_not_allowed, not_found, not_owned,
    paged,
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
    if let ("GET" | "DELETE", [key_id]) = (method, rest) {
        match state.keys.iter().find(|k| k.id == *key_id) {
            None => return done(not_found(key_id)),
            Some(key) if key.user_id != owner.id => return done(not_owned()),
            Some(_) => {}
        }
    }
    if owner.id != actor.user.id && !actor.user.has_permission("UserEdit") {
        return done(forbidden("UserEdit"));
    }
    match (method, rest) {
        ("GET", []) => done(list(state, request, &owner)),
        ("POST", []) => create(state, actor, request, &owner, now),
        ("GET", [key_id]) => done(match state.keys.iter().find(|k| k.id == *key_id) {
            Some(key) => Response::json(
                200,
                &listed_key_json(
                    key,
                    state.options.last_used_timestamps,
                    state.options.access_level_in_reads,
                ),
            ),
            None => not_found(key_id),
        }),
        ("DELETE", [key_id]) => delete(state, actor, &owner, key_id),
        _ => done(method_not_allowed()),
    }
}

fn list(state: &State, request: &Request, owner: &User) -> Response {
    let partial = request.query("partialPurpose").filter(|p| !p.is_empty());
    let mode = state.options.partial_purpose_filter;
    let mut keys: Vec<&ApiKey> = state
        .keys
        .iter()
        .filter(|k| k.user_id == owner.id)
        .filter(|k| partial.as_ref().is_none_or(|p| mode.admits(&k.purpose, p)))
        .collect();
    keys.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    let last_used = state.options.last_used_timestamps;
    let access_level = state.options.access_level_in_reads;

    // A server that ignores the parameter does not carry it into its links either.
    let extra: Vec<(&str, String)> = partial
        .iter()
        .filter(|_| mode != PartialPurpose::Ignored)
        .map(|p| ("partialPurpose", p.clone()))
        .collect();
    // A listing that never ends pads its pages with live keys of the same user, none with
    // the marker: what a client must page past without taking them for its own.
    let now = state.now();
    let fabricate = || {
        let n = state.fabricated_number();
        listed_key_json(
            &ApiKey {
                id: ids::api_key_id(),
                user_id: owner.id.clone(),
                purpose: format!("fabricated key {n}"),
                secret: ids::api_key_secret(),
                created: now - SignedDuration::from_hours(24 * 30),
                expires: Some(now + SignedDuration::from_hours(24 * 30)),
                last_used: None,
                access_level: AccessLevel::FullAccess,
            },
            false,
            state.options.access_level_in_reads,
        )
    };
    paged(
        request,
        &state.options,
        "ApiKey",
        keys,
        |key| listed_key_json(key, last_used, access_level),
        PageOf {
            base: &format!("/api/users/{}/apikeys", owner.id),
            filters: &["partialPurpose"],
            extra: &extra,
            fabricate: &fabricate,
        },
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
    // A request without a key came with a bearer access token. Whether Octopus lets one
    // create API keys is unconfirmed; a server that does not is assumed to refuse with 403
    // and its usual error body (the wording is the simulator's own).
    if actor.key_id.is_none() && !state.options.access_tokens_create_keys {
        return done(error(
            403,
            "API keys cannot be created with an access token. Please use an API key or sign in to create one.",
            &[],
        ));
    }
    if owner.id != actor.user.id && !owner.is_service {
        return refuse(
            "API keys can only be created for your own account or for a service account.",
        );
    }
    if !owner.is_service && !state.options.user_api_keys_enabled {
        return refuse(
            "An administrator has disabled API keys for users; only service accounts can have them.",
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
    let expires = match expiry(state, actor, body.get("Expires"), now) {
        Ok(expires) => expires,
        Err(message) => return refuse(&message),
    };
    let access_level = match access_level(state.options.access_level_field, &body) {
        Ok(level) => level,
        Err(message) => return refuse(&message),
    };
    let (id, secret) = state.insert_key(&owner.id, &purpose, now, expires, access_level);
    let key = state
        .keys
        .iter()
        .find(|k| k.id == id)
        .expect("just inserted")
        .clone();
    // The created key's answer has no `AccessLevel`, even on servers whose reads show it.
    let mut body = listed_key_json(&key, state.options.last_used_timestamps, false);
    body["ApiKey"] = Value::String(secret);
    let change = Change {
        message: format!(
            "User API key {purpose} ({}•••) for {} was generated",
            key.hint(),
            owner.username
        ),
        related_document_ids: vec![key.id.clone(), owner.id.clone()],
    };
    (Response::json(200, &body), Some(change))
}

/// The access level a new key gets from the `AccessLevel` sent, under what the server does
/// with that field; or why it is refused.
fn access_level(field: AccessLevelField, body: &Value) -> Result<AccessLevel, String> {
    let sent = body.get("AccessLevel").filter(|v| !v.is_null());
    match (field, sent) {
        (AccessLevelField::Ignored, _) | (_, None) => Ok(AccessLevel::FullAccess),
        (AccessLevelField::Refused, Some(_)) => Err(
            "The request body has a field this server does not know: 'AccessLevel'.".to_string(),
        ),
        (AccessLevelField::Honoured, Some(sent)) => match sent.as_str().and_then(AccessLevel::parse)
        {
            Some(AccessLevel::Custom) => Err(
                "A Custom API key needs roles and scopes, which only the web portal can give it."
                    .to_string(),
            ),
            Some(level) => Ok(level),
            None => Err(format!(
                "{sent} is not an API key access level: FullAccess, ReadOnly or Custom."
            )),
        },
    }
}

/// The expiry a new key gets from the `Expires` sent, under the server's expiry mode; or
/// why it is refused.
fn expiry(
    state: &State,
    actor: &Actor,
    sent: Option<&Value>,
    now: Timestamp,
) -> Result<Option<Timestamp>, String> {
    let days = |n: i64| now + SignedDuration::from_hours(24 * n);
    let options = &state.options;
    let max = days(options.max_expiry_days);
    let requested = || match sent {
        None => Ok(days(options.default_expiry_days)),
        Some(Value::Null) => Ok(max),
        Some(Value::String(text)) => text
            .parse::<Timestamp>()
            .map_err(|_| "The expiry date is not a valid date.".to_string()),
        Some(_) => Err("The expiry date is not a valid date.".to_string()),
    };
    let future = |at: Timestamp| {
        if at <= now {
            Err("The expiry date must be in the future.".to_string())
        } else {
            Ok(at)
        }
    };
    match options.expiry {
        ExpiryMode::Omitted => Ok(None),
        ExpiryMode::Ignored => Ok(Some(days(options.default_expiry_days))),
        ExpiryMode::CappedAt(limit) => Ok(Some(future(requested()?)?.min(now + limit))),
        ExpiryMode::Honoured => {
            let at = future(requested()?)?;
            if at > max {
                return Err(format!(
                    "The expiry date cannot be more than {} days in the future.",
                    options.max_expiry_days
                ));
            }
            if actor.key_expires.is_some_and(|limit| at > limit) {
                return Err(
                    "The expiry date cannot be after the expiry of the API key used to create it."
                        .to_string(),
                );
            }
            match actor.token_expires {
                Some(limit) if at > limit => match options.token_expiry_rule {
                    TokenExpiryRule::Refuse => Err(
                        "The expiry date cannot be after the expiry of the access token used to create it."
                            .to_string(),
                    ),
                    TokenExpiryRule::Cap => Ok(Some(limit)),
                    TokenExpiryRule::Unchecked => Ok(Some(at)),
                },
                _ => Ok(Some(at)),
            }
        }
    }
}

fn delete(state: &mut State, actor: &Actor, owner: &User, key_id: &str) -> Answer {
    let Some(index) = state.keys.iter().position(|k| k.id == key_id) else {
        return done(not_found(key_id));
    };
    if actor.key_id.as_deref() == Some(key_id) && !state.options.allow_self_delete {
        return done(error(
            403,
            "An API key cannot be used to delete itself.",
            &[],
        ));
    }
    let key = state.keys.remove(index);
    let change = Change {
        message: format!(
            "User API key {} ({}•••) for {} was deleted",
            key.purpose,
            key.hint(),
            owner.username
        ),
        related_document_ids: vec![key.id.clone(), owner.id.clone()],
    };
    (Response::json(200, &json!({})), Some(change))
}
