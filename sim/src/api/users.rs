//! Users and service accounts: the caller itself (`/api/users/me`), one user, and the list.
//! Reading another user needs `UserView`.

use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::User;
use crate::render::{PageOf, forbidden, not_found, paged, user_json};
use crate::state::State;

pub(crate) fn me(actor: &Actor) -> Response {
    Response::json(200, &user_json(&actor.user))
}

pub(crate) fn list(state: &State, actor: &Actor, request: &Request) -> Response {
    if !actor.user.has_permission("UserView") {
        return forbidden("UserView");
    }
    let users: Vec<&User> = state.users.iter().collect();
    let fabricate = || {
        let n = state.fabricated_number();
        user_json(&User {
            id: format!("Users-{n}"),
            username: format!("fabricated-{n}"),
            display_name: format!("Fabricated User {n}"),
            email: format!("fabricated-{n}@example.com"),
            is_service: false,
            is_active: true,
            permissions: Vec::new(),
        })
    };
    paged(
        request,
        &state.options,
        "User",
        users,
        user_json,
        PageOf {
            base: "/api/users",
            filters: &["filter"],
            extra: &[],
            fabricate: &fabricate,
        },
    )
}

pub(crate) fn one(state: &State, actor: &Actor, id: &str) -> Response {
    let Some(user) = state.user(id) else {
        return not_found(id);
    };
    if user.id != actor.user.id && !actor.user.has_permission("UserView") {
        return forbidden("UserView");
    }
    Response::json(200, &user_json(user))
}
