//! What every handler gives back: the response, and the change it made when it made one;
//! and how such a change becomes an entry of the audit log. Octopus records a change that
//! succeeded (a creation, a modification, a deletion) and never a read, naming the owner of
//! the credential used and, for a key, the key. The handlers and the dispatcher share this
//! module, so neither imports the other.

use jiff::Timestamp;

use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::AuditEvent;
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

/// Adds the audit event for `change`, when there is one and `response` says it succeeded.
pub(crate) fn audit(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    response: &Response,
    change: Option<Change>,
    now: Timestamp,
) {
    let succeeded = (200..300).contains(&response.status);
    let (Some(category), Some(change), true) = (category(&request.method), change, succeeded)
    else {
        return;
    };
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
