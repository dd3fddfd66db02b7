//! The audit log as Octopus serves it (`GET /api/events`): newest first, paged, filtered by
//! the users who made the changes (`users=`, comma-separated ids), by when (`from=`, `to=`,
//! both inclusive) and by a document it is about (`regarding=`). It cannot be filtered by
//! API key or purpose, as on the real server. Needs `EventView`.

use jiff::{SignedDuration, Timestamp};

use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::AuditEvent;
use crate::render::{PageOf, event_json, forbidden, invalid, paged};
use crate::state::State;

pub(crate) fn list(state: &State, actor: &Actor, request: &Request) -> Response {
    if !actor.user.has_permission("EventView") {
        return forbidden("EventView");
    }
    let users: Option<Vec<String>> = request.query("users").filter(|u| !u.is_empty()).map(|u| {
        u.split(',')
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .collect()
    });
    let (from, to) = match (bound(request, "from"), bound(request, "to")) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(name), _) | (_, Err(name)) => {
            return invalid(&format!("The '{name}' parameter is not a valid date."));
        }
    };
    let regarding = request.query("regarding").filter(|r| !r.is_empty());
    let mut events: Vec<&AuditEvent> = state
        .audit
        .iter()
        .filter(|e| users.as_ref().is_none_or(|ids| ids.contains(&e.user_id)))
        .filter(|e| from.is_none_or(|at| e.occurred >= at))
        .filter(|e| to.is_none_or(|at| e.occurred <= at))
        .filter(|e| {
            regarding
                .as_ref()
                .is_none_or(|id| e.related_document_ids.contains(id))
        })
        .collect();
    events.reverse();
    // A listing that never ends pads its pages with changes that pass the filters asked:
    // by one of the users asked for, inside `from`..`to` (the last 90 days when open),
    // about the document asked for.
    let now = state.now();
    let earliest = from.unwrap_or(now - SignedDuration::from_hours(24 * 90));
    let latest = to.unwrap_or(now).max(earliest);
    let window = latest.duration_since(earliest);
    let fabricate = || {
        let n = state.fabricated_number();
        let user_id = users
            .as_ref()
            .and_then(|ids| ids.first().cloned())
            .unwrap_or_else(|| format!("Users-{n}"));
        let user = state.user(&user_id);
        let project = format!("Projects-{n}");
        let event = AuditEvent {
            id: format!("Events-{n}"),
            category: "Modified".to_string(),
            occurred: earliest + window / 100 * ((n % 99) as i32 + 1),
            username: user.map_or_else(|| format!("fabricated-{n}"), |u| u.username.clone()),
            is_service: user.is_some_and(|u| u.is_service),
            user_id,
            user_agent: "Mozilla/5.0 (fabricated)".to_string(),
            action: format!("PUT /api/Spaces-1/projects/{project}"),
            status: 200,
            identity_established_with: "Session cookie".to_string(),
            api_key_id: None,
            api_key_hint: None,
            message: format!("Project fabricated-{n} was modified"),
            related_document_ids: [Some(project), regarding.clone()]
                .into_iter()
                .flatten()
                .collect(),
        };
        event_json(state, &event)
    };
    let extra: Vec<(&str, String)> = ["users", "from", "to", "regarding"]
        .into_iter()
        .filter_map(|name| {
            request
                .query(name)
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
        .collect();
    paged(
        request,
        &state.options,
        "Event",
        events,
        |event| event_json(state, event),
        PageOf {
            base: "/api/events",
            filters: &[
                "from",
                "to",
                "regarding",
                "regardingAny",
                "users",
                "projects",
                "environments",
                "eventCategories",
                "spaces",
                "asCsv",
            ],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

/// The date in query parameter `name` (an offset date-time, or a plain date meaning its
/// start in UTC); `Err(name)` when it is there but not a date.
fn bound(request: &Request, name: &'static str) -> Result<Option<Timestamp>, &'static str> {
    let Some(text) = request.query(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(Some(at));
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| Some(zoned.timestamp()))
        .ok_or(name)
}
