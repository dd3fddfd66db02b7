//! `POST /api/users`: a new user, here the broker service account. Needs UserEdit. A
//! service account has no password; usernames are unique (ignoring case) and, like display
//! names, at most 64 characters.

use serde_json::Value;

use super::input::{json_body, require, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::User;
use crate::render::{invalid, user_json};
use crate::state::State;

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request) -> Answer {
    if let Err(refused) = require(actor, "UserEdit") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let username = text(&body, "Username").trim().to_string();
    let display_name = text(&body, "DisplayName").trim().to_string();
    let is_service = body
        .get("IsService")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if username.is_empty() || username.chars().count() > 64 {
        return done(invalid(
            "Username is required and is at most 64 characters.",
        ));
    }
    if display_name.chars().count() > 64 {
        return done(invalid("DisplayName is at most 64 characters."));
    }
    if is_service && body.get("Password").is_some_and(|p| !p.is_null()) {
        return done(invalid("A service account cannot have a password."));
    }
    if state
        .users
        .iter()
        .any(|u| u.username.eq_ignore_ascii_case(&username))
    {
        return done(invalid(&format!(
            "A user with the username '{username}' already exists."
        )));
    }
    let user = User {
        id: format!("Users-{}", state.users.len() + 1),
        username: username.clone(),
        display_name: if display_name.is_empty() {
            username
        } else {
            display_name
        },
        email: text(&body, "EmailAddress").to_string(),
        is_service,
        is_active: body
            .get("IsActive")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        permissions: Vec::new(),
    };
    state.users.push(user.clone());
    let change = Change {
        message: format!(
            "{} {} was created",
            if is_service {
                "Service account"
            } else {
                "User"
            },
            user.username
        ),
        related_document_ids: vec![user.id.clone()],
    };
    (Response::json(201, &user_json(&user)), Some(change))
}
