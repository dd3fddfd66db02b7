//! The REST API: one authenticated request in, one answer out. This module authenticates,
//! routes by method and path to the handler of each resource, and writes the audit event;
//! the submodules hold the handlers.

mod apikeys;
mod runbook_runs;
mod system;
mod users;

use jiff::Timestamp;

use crate::auth::{Actor, authenticate};
use crate::http::{Request, Response};
use crate::model::AuditEvent;
use crate::render::{not_found, root_document};
use crate::state::State;

/// An answer and the audit message it leaves (empty when there is nothing to say).
pub(crate) type Answer = (Response, String);

pub(crate) fn done(response: Response) -> Answer {
    (response, String::new())
}

/// Answers `request`, recording it in the audit log.
pub(crate) fn handle(state: &mut State, request: &Request) -> Response {
    let now = state.now();
    if request.method == "GET" && (request.path() == "/api" || request.path() == "/api/") {
        return Response::json(200, &root_document());
    }
    let actor = match authenticate(state, request, now) {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let (response, message) = route(state, &actor, request, now);
    state.audit.push(AuditEvent {
        occurred: now,
        user_id: actor.user.id.clone(),
        username: actor.user.username.clone(),
        action: format!("{} {}", request.method, request.path()),
        status: response.status,
        identity_established_with: actor.identity.clone(),
        api_key_id: actor.key_id.clone(),
        api_key_hint: actor.key_hint.clone(),
        message,
    });
    response
}

fn route(state: &mut State, actor: &Actor, request: &Request, now: Timestamp) -> Answer {
    let path = request.path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "users", "me"]) => done(users::me(actor)),
        ("GET", ["api", "users"]) => done(users::list(state, actor, request)),
        ("GET", ["api", "spaces"]) => done(system::spaces(state, request)),
        ("GET", ["api", "authentication"]) => done(system::authentication(state)),
        ("GET", ["api", "users", id]) => done(users::one(state, actor, id)),
        (method, ["api", "users", id, "apikeys", rest @ ..]) => {
            apikeys::route(state, actor, request, now, method, id, rest)
        }
        ("GET", ["api", space, "runbookRuns", run_id]) => {
            done(runbook_runs::one(state, actor, space, run_id))
        }
        _ => done(not_found(&path)),
    }
}
