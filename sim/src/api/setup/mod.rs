//! The endpoints `setup` prepares a space with: spaces, the built-in feed's packages, step
//! templates, service accounts, teams, user roles and their grants, and accounts; and the
//! projects, project groups, environments and tenants it reads to scope them. Each
//! checks the caller's permission per request and answers 403 naming it, as Octopus does.
//! (OIDC identities of service accounts live in the simulator's OIDC module.) This module
//! only routes; what the handlers read from a request is in `input`.

mod accounts;
mod action_templates;
mod catalog;
mod grants;
mod input;
mod packages;
mod processes;
mod runbooks;
mod schedule;
mod spaces;
mod teams;
mod triggers;
mod users;

use jiff::Timestamp;

use crate::api::answer::{Answer, done};
use crate::auth::Actor;
use crate::http::Request;
use crate::prepared::Space;
use crate::render::{method_not_allowed, not_found};
use crate::state::State;

/// Answers a request for one of these resources, or `None` when the path is not theirs.
pub(crate) fn route(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    now: Timestamp,
    segments: &[&str],
) -> Option<Answer> {
    let method = request.method.as_str();
    Some(match (method, segments) {
        ("GET", ["api", "spaces"]) => done(spaces::list(state, request)),
        ("GET", ["api", "spaces", id]) => done(spaces::one(state, id)),
        ("POST", ["api", "users"]) => users::create(state, actor, request),
        ("GET", ["api", "userroles", "all"]) => done(grants::roles(state, actor)),
        ("POST", ["api", "scopeduserroles"]) => grants::create(state, actor, request, None),
        ("GET", ["api", "scopeduserroles", id]) => done(grants::one(state, actor, None, id)),
        ("PUT", ["api", "scopeduserroles", id]) => grants::update(state, actor, request, None, id),
        ("DELETE", ["api", "scopeduserroles", id]) => grants::delete(state, actor, None, id),
        ("GET", ["api", "teams", id]) => done(teams::one(state, actor, None, id)),
        ("PUT", ["api", "teams", id]) => teams::update(state, actor, request, None, id),
        ("DELETE", ["api", "teams", id]) => teams::delete(state, actor, None, id),
        ("GET", ["api", "teams", id, "scopeduserroles"]) => {
            done(grants::list(state, actor, request, id))
        }
        (_, ["api", space, kind, rest @ ..]) if in_a_space(kind) => {
            let space = match state.prepared.space(space) {
                Some(space) => space.clone(),
                None => return Some(done(not_found(space))),
            };
            let kind = kind.to_ascii_lowercase();
            in_space(state, actor, request, now, &space, &kind, rest)
        }
        _ => return None,
    })
}

/// Whether `kind` (a path segment after the space, any case, as Octopus's routes are) names
/// one of the resources of a space served here.
fn in_a_space(kind: &str) -> bool {
    const KINDS: [&str; 13] = [
        "packages",
        "actiontemplates",
        "teams",
        "scopeduserroles",
        "accounts",
        "projects",
        "projectgroups",
        "environments",
        "tenants",
        "runbooks",
        "runbookprocesses",
        "runbooksnapshots",
        "projecttriggers",
    ];
    KINDS.iter().any(|k| k.eq_ignore_ascii_case(kind))
}

fn in_space(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    now: Timestamp,
    space: &Space,
    kind: &str,
    rest: &[&str],
) -> Answer {
    if let Some(kind) = catalog::Kind::from_segment(kind) {
        return done(match (request.method.as_str(), rest) {
            ("GET", ["all"]) => catalog::all(state, actor, space, kind),
            ("GET", []) => catalog::list(state, actor, request, space, kind),
            ("GET", [id]) => catalog::one(state, actor, space, kind, id),
            ("POST" | "PUT" | "DELETE", [] | [_]) => method_not_allowed(),
            _ => not_found(request.path()),
        });
    }
    match (request.method.as_str(), kind, rest) {
        ("GET", "packages", [id]) => done(packages::one(state, actor, space, id)),
        ("POST", "packages", ["raw"]) => packages::upload(state, actor, request, space, now),
        ("GET", "actiontemplates", []) => {
            done(action_templates::list(state, actor, request, space))
        }
        ("GET", "actiontemplates", [id]) => done(action_templates::one(state, actor, space, id)),
        ("POST", "actiontemplates", []) => action_templates::create(state, actor, request, space),
        ("PUT", "actiontemplates", [id]) => {
            action_templates::update(state, actor, request, space, id)
        }
        ("DELETE", "actiontemplates", [id]) => action_templates::delete(state, actor, space, id),
        ("GET", "actiontemplates", [id, "usage"]) => {
            done(action_templates::usage(state, actor, space, id))
        }
        ("GET", "teams", []) => done(teams::list(state, actor, request, space)),
        ("POST", "teams", []) => teams::create(state, actor, request, space),
        ("GET", "teams", [id]) => done(teams::one(state, actor, Some(space), id)),
        ("PUT", "teams", [id]) => teams::update(state, actor, request, Some(space), id),
        ("DELETE", "teams", [id]) => teams::delete(state, actor, Some(space), id),
        ("GET", "teams", [id, "scopeduserroles"]) => done(grants::list(state, actor, request, id)),
        ("POST", "scopeduserroles", []) => grants::create(state, actor, request, Some(space)),
        ("GET", "scopeduserroles", [id]) => done(grants::one(state, actor, Some(space), id)),
        ("PUT", "scopeduserroles", [id]) => grants::update(state, actor, request, Some(space), id),
        ("DELETE", "scopeduserroles", [id]) => grants::delete(state, actor, Some(space), id),
        ("GET", "runbooks", []) => done(runbooks::list(state, actor, request, space)),
        ("POST", "runbooks", []) => runbooks::create(state, actor, request, space),
        ("GET", "runbooks", [id]) => done(runbooks::one(state, actor, space, id)),
        ("PUT", "runbooks", [id]) => runbooks::update(state, actor, request, space, id),
        ("DELETE", "runbooks", [id]) => runbooks::delete(state, actor, space, id),
        ("GET", "runbookprocesses", [id]) => done(processes::one(state, actor, space, id)),
        ("PUT", "runbookprocesses", [id]) => processes::update(state, actor, request, space, id),
        ("GET", "runbookprocesses", [id, tail])
            if tail.eq_ignore_ascii_case("runbookSnapshotTemplate") =>
        {
            done(processes::snapshot_template(state, actor, space, id))
        }
        ("POST", "runbooksnapshots", []) => {
            processes::create_snapshot(state, actor, request, space)
        }
        ("GET", "runbooksnapshots", [id]) => done(processes::snapshot(state, actor, space, id)),
        ("GET", "projecttriggers", []) => done(triggers::list(state, actor, request, space)),
        ("POST", "projecttriggers", []) => triggers::create(state, actor, request, space),
        ("GET", "projecttriggers", [id]) => done(triggers::one(state, actor, space, id)),
        ("PUT", "projecttriggers", [id]) => triggers::update(state, actor, request, space, id),
        ("DELETE", "projecttriggers", [id]) => triggers::delete(state, actor, space, id),
        ("GET", "accounts", []) => done(accounts::list(state, actor, request, space)),
        ("GET", "accounts", [id]) => done(accounts::one(state, actor, space, id)),
        ("POST", "accounts", []) => accounts::create(state, actor, request, space),
        ("PUT", "accounts", [id]) => accounts::update(state, actor, request, space, id),
        ("DELETE", "accounts", [id]) => accounts::delete(state, actor, space, id),
        ("GET", "accounts", [id, "usages"]) => done(accounts::usages(state, actor, space, id)),
        ("GET" | "POST" | "PUT" | "DELETE", _, [] | [_] | [_, _]) => done(method_not_allowed()),
        _ => done(not_found(request.path())),
    }
}
