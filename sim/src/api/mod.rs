//! The REST API: one authenticated request in, one answer out. This module only dispatches:
//! it authenticates, refuses a read-only key's changes, routes by method and path to the
//! handler of each resource (a space's resources under `/api/{spaceId}/...` and
//! `/api/spaces/{spaceId}/...` alike), and hands
//! the change a handler made to the audit log (`answer`, which the handlers share, writes
//! it); the other submodules hold the handlers.

mod answer;
mod apikeys;
mod events;
mod machines;
mod oidc;
mod path;
mod read_only;
mod runbook_runs;
mod setup;
mod system;
mod tasks;
mod users;

use jiff::Timestamp;

use crate::api::answer::{Answer, audit, done};
use crate::auth::{Actor, authenticate};
use crate::http::{Request, Response};
use crate::model::AccessLevel;
use crate::render::{not_found, root_document};
use crate::state::State;

/// Answers `request`, recording it in the audit log.
pub(crate) fn handle(state: &mut State, request: &Request) -> Response {
    let now = state.now();
    if request.method == "GET" && (request.path() == "/api" || request.path() == "/api/") {
        return Response::json(200, &root_document());
    }
    // The authentication settings drive the login page, so they are served to anyone,
    // whatever credential (or none) the request carries.
    if request.method == "GET" && request.path().trim_end_matches('/') == "/api/authentication" {
        return system::authentication(state);
    }
    // OIDC discovery, the JWKS and the token exchange are anonymous, and change nothing.
    if let Some(response) = oidc::anonymous(state, request, now) {
        return response;
    }
    let mut actor = match authenticate(state, request, now) {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    if let Some(key) = actor
        .key_id
        .as_ref()
        .and_then(|id| state.keys.iter_mut().find(|k| &k.id == id))
    {
        key.last_used = Some(now);
    }
    // A user acts with its own permissions and those its teams' roles grant it.
    for permission in state.prepared.team_permissions(&actor.user.id) {
        if !actor.user.has_permission(&permission) {
            actor.user.permissions.push(permission);
        }
    }
    // A read-only key reads; any change it asks for is refused before it is routed.
    if let Some(refused) = read_only::refusal(&actor, request) {
        return refused;
    }
    let (response, change) = route(state, &actor, request, now);
    debug_assert!(
        actor.access_level != AccessLevel::ReadOnly || change.is_none(),
        "a read-only key changed something through {} {}: read_only.rs misses the route",
        request.method,
        request.path()
    );
    audit(state, &actor, request, &response, change, now);
    response
}

fn route(state: &mut State, actor: &Actor, request: &Request, now: Timestamp) -> Answer {
    let path = request.path().trim_end_matches('/').to_string();
    let segments = path::segments(&path);
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "users", "me"]) => done(users::me(actor)),
        ("GET", ["api", "users"]) => done(users::list(state, actor, request)),
        ("GET", ["api", "users", id]) => done(users::one(state, actor, id)),
        (method, ["api", "users", id, "apikeys", rest @ ..]) => {
            apikeys::route(state, actor, request, now, method, id, rest)
        }
        (_, ["api", "serviceaccounts", id, "oidcidentities", rest @ ..]) => {
            oidc::identities(state, actor, request, id, rest)
        }
        (_, ["api", space, "machines", rest @ ..]) => {
            machines::route(state, actor, request, space, rest)
        }
        ("GET", ["api", "events"]) => done(events::list(state, actor, request)),
        ("GET", ["api", "tasks", task_id]) => done(tasks::one(state, actor, None, task_id)),
        ("GET", ["api", space, "tasks", task_id]) => {
            done(tasks::one(state, actor, Some(space), task_id))
        }
        ("GET", ["api", space, "runbookRuns", run_id]) => {
            done(runbook_runs::one(state, actor, space, run_id))
        }
        _ => setup::route(state, actor, request, now, &segments)
            .unwrap_or_else(|| done(not_found(&path))),
    }
}
