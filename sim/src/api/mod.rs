//! The REST API: one authenticated request in, one answer out. This module authenticates,
//! routes by method and path to the handler of each resource, and writes an audit event for
//! each change that succeeded (as Octopus does, reads leave no event); the submodules hold
//! the handlers.

mod apikeys;
mod events;
mod machines;
mod oidc;
mod runbook_runs;
mod setup;
mod system;
mod tasks;
mod users;

use jiff::Timestamp;

use crate::auth::{Actor, authenticate};
use crate::http::{Request, Response};
use crate::model::AuditEvent;
use crate::render::{not_found, root_document};
use crate::state::State;

/// A change a handler made, as the audit log describes it.
pub(crate) struct Change {
    pub message: String,
    /// The documents it is about, most specific first.
    pub related_document_ids: Vec<String>,
}

/// An answer, and the change it made if it made one.
pub(crate) type Answer = (Response, Option<Change>);

/// An answer that changed nothing.
pub(crate) fn done(response: Response) -> Answer {
    (response, None)
}

/// Octopus's event category for a successful change made with `method`.
fn category(method: &str) -> Option<&'static str> {
    match method {
        "POST" => Some("Created"),
        "PUT" => Some("Modified"),
        "DELETE" => Some("Deleted"),
        _ => None,
    }
}

/// Answers `request`, recording it in the audit log.
pub(crate) fn handle(state: &mut State, request: &Request) -> Response {
    let now = state.now();
    if request.method == "GET" && (request.path() == "/api" || request.path() == "/api/") {
        return Response::json(200, &root_document());
    }
    // OIDC discovery, the JWKS and the token exchange are anonymous, and change nothing.
    if let Some(response) = oidc::anonymous(state, request, now) {
        return response;
    }
    let mut actor = match authenticate(state, request, now) {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    // A user acts with its own permissions and those its teams' roles grant it.
    for permission in state.prepared.team_permissions(&actor.user.id) {
        if !actor.user.has_permission(&permission) {
            actor.user.permissions.push(permission);
        }
    }
    let (response, change) = route(state, &actor, request, now);
    let succeeded = (200..300).contains(&response.status);
    if let (Some(category), Some(change), true) = (category(&request.method), change, succeeded) {
        let id = format!("Events-{}", state.audit.len() + 1);
        let with_key = !state.options.events_without_api_key_id;
        state.audit.push(AuditEvent {
            id,
            category: category.to_string(),
            occurred: now,
            user_id: actor.user.id.clone(),
            username: actor.user.username.clone(),
            is_service: actor.user.is_service,
            user_agent: request.header("User-Agent").unwrap_or("").to_string(),
            action: format!("{} {}", request.method, request.path()),
            status: response.status,
            identity_established_with: actor.identity.clone(),
            api_key_id: actor.key_id.clone().filter(|_| with_key),
            api_key_hint: actor.key_hint.clone().filter(|_| with_key),
            message: change.message,
            related_document_ids: change.related_document_ids,
        });
    }
    response
}

fn route(state: &mut State, actor: &Actor, request: &Request, now: Timestamp) -> Answer {
    let path = request.path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "users", "me"]) => done(users::me(actor)),
        ("GET", ["api", "users"]) => done(users::list(state, actor, request)),
        ("GET", ["api", "authentication"]) => done(system::authentication(state)),
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
