//! How the server writes its answers: resources in Octopus's PascalCase shapes, its date
//! formats, paged collections with their `Links` (honest, or as the `Paging` switch makes
//! them misbehave), and its error bodies.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::faults::{Options, Paging};
use crate::http::{Request, Response};
use crate::model::{ApiKey, AuditEvent, RunbookRun, Task, User};
use crate::state::State;

/// Octopus's default page size when a request names no `take`.
pub const DEFAULT_TAKE: usize = 30;

/// Octopus's date format: offset, 7 fractional digits.
pub fn octopus_date(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.7f+00:00").to_string()
}

/// The RFC 1123 form HTTP's `Date` header and Octopus's `IdentityEstablishedWith` use:
/// `Fri, 22 Jul 2022 17:46:35 GMT`.
pub(crate) fn http_date(at: Timestamp) -> String {
    at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The most items a page of an endless listing holds, whatever `take` asks: every page is
/// made on request, so a client asking for thousands of them gets each one fast.
pub const ENDLESS_PAGE_MAX: usize = 100;

/// What `TotalResults` says when the server ignores `skip` (`Paging::SkipIgnored`).
pub const SKIP_IGNORED_TOTAL: usize = 1_000_000;

/// Where a page lives: its path, the query parameters its `Template` link names besides
/// `skip` and `take`, and the ones this request used, which every link carries on; and how
/// to make one more item of its kind, never seen before, for a listing that never ends.
pub(crate) struct PageOf<'a> {
    pub base: &'a str,
    pub filters: &'a [&'a str],
    pub extra: &'a [(&'a str, String)],
    pub fabricate: &'a dyn Fn() -> Value,
}

/// One page of `items`, rendered with `render` (only the page's items are rendered), as
/// `options.paging` says a server pages: honestly, or never ending, or ignoring `skip`, or
/// pointing its last page back at itself.
pub(crate) fn paged<T>(
    request: &Request,
    options: &Options,
    item_type: &str,
    items: Vec<T>,
    render: impl Fn(T) -> Value,
    at: PageOf<'_>,
) -> Response {
    let PageOf {
        base,
        filters,
        extra,
        fabricate,
    } = at;
    let skip: usize = request
        .query("skip")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let asked: usize = request
        .query("take")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_TAKE);
    let mut take = options.max_take.map_or(asked, |max| asked.min(max)).max(1);
    let real = items.len();
    let (total, page, next): (usize, Vec<Value>, Option<usize>) = match options.paging {
        Paging::Honest | Paging::NextRepeats => {
            let page = items
                .into_iter()
                .skip(skip)
                .take(take)
                .map(render)
                .collect();
            let next = skip.checked_add(take).filter(|next| *next < real);
            (real, page, next)
        }
        Paging::SkipIgnored => {
            let page = items.into_iter().take(take).map(render).collect();
            let total = real.max(SKIP_IGNORED_TOTAL);
            let next = skip.checked_add(take).filter(|next| *next < total);
            (total, page, next)
        }
        Paging::Endless => {
            take = take.min(ENDLESS_PAGE_MAX);
            let mut page: Vec<Value> = items
                .into_iter()
                .skip(skip)
                .take(take)
                .map(render)
                .collect();
            while page.len() < take {
                page.push(fabricate());
            }
            let next = skip.saturating_add(take);
            (real.max(next.saturating_add(take)), page, Some(next))
        }
    };
    let pages = total.div_ceil(take).max(1);
    let query = |skip: usize| {
        let mut q = format!("{base}?skip={skip}&take={take}");
        for (name, value) in extra {
            q.push_str(&format!("&{name}={}", encode(value)));
        }
        q
    };
    let mut links = HashMap::new();
    links.insert("Self", query(skip));
    let template: Vec<&str> = ["skip", "take"]
        .into_iter()
        .chain(filters.iter().copied())
        .collect();
    links.insert("Template", format!("{base}{{?{}}}", template.join(",")));
    links.insert("Page.All", format!("{base}?skip=0&take=2147483647"));
    links.insert("Page.Current", query(skip));
    links.insert("Page.Last", query((pages - 1) * take));
    match (next, options.paging) {
        (Some(next), _) => {
            links.insert("Page.Next", query(next));
        }
        // The last page points back at itself.
        (None, Paging::NextRepeats) => {
            links.insert("Page.Next", query(skip));
        }
        (None, _) => {}
    }
    Response::json(
        200,
        &json!({
            "ItemType": item_type,
            "TotalResults": total,
            "ItemsPerPage": take,
            "NumberOfPages": pages,
            "LastPageNumber": pages - 1,
            "Items": page,
            "Links": links,
        }),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn root_document() -> Value {
    json!({
        "Application": "Octopus Deploy",
        "Version": "2026.3.0",
        "ApiVersion": "3.0.0",
        "InstallationId": "00000000-0000-0000-0000-00000000beef",
        "Links": {"Self": "/api", "CurrentUser": "/api/users/me", "Users": "/api/users{/id}{?skip,take,ids,filter}"},
    })
}

pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "Id": user.id,
        "Username": user.username,
        "DisplayName": user.display_name,
        "EmailAddress": user.email,
        "IsActive": user.is_active,
        "IsService": user.is_service,
        "IsRequestor": false,
        "CanPasswordBeEdited": !user.is_service,
        "Identities": [],
        "Links": {
            "Self": format!("/api/users/{}", user.id),
            "ApiKeys": format!("/api/users/{}/apikeys{{/id}}{{?skip,take}}", user.id),
            "Permissions": format!("/api/users/{}/permissions", user.id),
        },
    })
}

/// A key as listings and reads show it; with `last_used`, as newer servers do, when it was
/// last used (null: never); with `access_level`, as servers since 2026.3 do, its
/// `AccessLevel`.
pub(crate) fn listed_key_json(key: &ApiKey, last_used: bool, access_level: bool) -> Value {
    let mut value = json!({
        "Id": key.id,
        "Purpose": key.purpose,
        "UserId": key.user_id,
        "ApiKey": {"HasValue": true, "Hint": key.hint()},
        "Created": octopus_date(key.created),
        "Links": {"Self": format!("/api/users/{}/apikeys/{}", key.user_id, key.id), "User": format!("/api/users/{}", key.user_id)},
    });
    if let Some(expires) = key.expires {
        value["Expires"] = Value::String(octopus_date(expires));
    }
    if last_used {
        value["LastUsedTimeStamp"] = key
            .last_used
            .map_or(Value::Null, |at| Value::String(octopus_date(at)));
        value["IsLastUsedTimestampKnown"] = Value::Bool(true);
    }
    if access_level {
        value["AccessLevel"] = Value::String(key.access_level.as_str().to_string());
    }
    value
}

pub(crate) fn runbook_run_json(state: &State, run: &RunbookRun) -> Value {
    let mut value = json!({
        "Id": run.id,
        "SpaceId": run.space_id,
        "ProjectId": "Projects-1",
        "RunbookId": "Runbooks-1",
        "RunbookSnapshotId": "RunbookSnapshots-1",
        "FrozenRunbookProcessId": "RunbookProcess-Runbooks-1-s-1",
        "EnvironmentId": "Environments-1",
        "TaskId": run.task_id,
        "Name": "Run 1",
        "Comments": "",
        "Created": octopus_date(state.now()),
        "QueueTime": octopus_date(state.now()),
        "FailureEncountered": false,
        "ForcePackageDownload": false,
        "UseGuidedFailure": false,
        "SkipActions": [],
        "SpecificMachineIds": [],
        "ExcludedMachineIds": [],
        "DeployedToMachineIds": [],
        "FormValues": {},
        "Links": {"Self": format!("/api/{}/runbookRuns/{}", run.space_id, run.id), "Task": format!("/api/tasks/{}", run.task_id)},
    });
    match run.deployed_by.as_deref() {
        Some(id) => match state.user(id) {
            Some(user) => {
                value["DeployedBy"] = Value::String(user.username.clone());
                value["DeployedById"] = Value::String(user.id.clone());
            }
            // Octopus's system user (`users-system`) starts triggered runs; it has no user
            // record: `GET /api/users/users-system` answers 404.
            None => {
                value["DeployedBy"] = Value::String("system".into());
                value["DeployedById"] = Value::String(id.to_string());
            }
        },
        // A webhook trigger with a shared secret: the run is attributed to nobody.
        None => {
            value["DeployedBy"] = Value::Null;
            value["DeployedById"] = Value::Null;
        }
    }
    value
}

pub(crate) fn task_json(task: &Task) -> Value {
    json!({
        "Id": task.id,
        "SpaceId": task.space_id,
        "Name": task.name,
        "Description": task.description,
        "State": task.state.as_str(),
        "IsCompleted": task.state.is_completed(),
        "FinishedSuccessfully": task.state == crate::model::TaskState::Success,
        "HasWarningsOrErrors": !task.error_message.is_empty(),
        "CompletedTime": task.completed_time.map(octopus_date),
        "ErrorMessage": task.error_message,
        "Links": {"Self": format!("/api/tasks/{}", task.id)},
    })
}

/// An `EventResource`. `MessageReferences` point at the names of the related users inside
/// `Message` (character offsets), which `MessageHtml` turns into links. User and key events
/// are system-level, so `SpaceId` is null; a change in a space names it. `ApiKeyId`/`ApiKeyHint` appear only when a key
/// made the change, as on servers that have them.
pub(crate) fn event_json(state: &State, event: &AuditEvent) -> Value {
    let mut references = Vec::new();
    let mut html = html_escape(&event.message);
    for id in &event.related_document_ids {
        let Some(user) = state.user(id) else { continue };
        if let Some(byte) = event.message.find(&user.username) {
            references.push(json!({
                "ReferencedDocumentId": user.id,
                "StartIndex": event.message[..byte].chars().count(),
                "Length": user.username.chars().count(),
            }));
            let name = html_escape(&user.username);
            html = html.replacen(
                &name,
                &format!("<a href='#/users/{}'>{name}</a>", user.id),
                1,
            );
        }
    }
    let mut value = json!({
        "Id": event.id,
        "Category": event.category,
        "UserId": event.user_id,
        "Username": event.username,
        "IsService": event.is_service,
        "IdentityEstablishedWith": event.identity_established_with,
        "UserAgent": event.user_agent,
        "Occurred": octopus_date(event.occurred),
        "Message": event.message,
        "MessageHtml": html,
        "MessageReferences": references,
        "RelatedDocumentIds": event.related_document_ids,
        "SpaceId": space_of(&event.action),
        "Links": {"Self": format!("/api/events/{}", event.id)},
    });
    if let Some(id) = &event.api_key_id {
        value["ApiKeyId"] = Value::String(id.clone());
    }
    if let Some(hint) = &event.api_key_hint {
        value["ApiKeyHint"] = Value::String(hint.clone());
    }
    value
}

/// The space an event's request was in (`/api/Spaces-1/...` or `/api/spaces/Spaces-1/...`),
/// or null for a system-level one.
fn space_of(action: &str) -> Value {
    let path = action.split_once(' ').map_or(action, |(_, path)| path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let space = match segments.as_slice() {
        ["api", "spaces", space, _, ..] => Some(*space),
        [_, space, ..] => Some(*space),
        _ => None,
    };
    space
        .filter(|segment| segment.starts_with("Spaces-"))
        .map_or(Value::Null, |space| Value::String(space.to_string()))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Octopus's error body: `ErrorMessage`, and `Errors` repeating it when no details are given.
pub(crate) fn error(status: u16, message: &str, errors: &[&str]) -> Response {
    let errors: Vec<&str> = if errors.is_empty() {
        vec![message]
    } else {
        errors.to_vec()
    };
    Response::json(
        status,
        &json!({
            "ErrorMessage": message,
            "Errors": errors,
            "FullException": null,
            "HelpText": null,
            "HelpLink": null,
            "Details": {},
        }),
    )
}

pub(crate) fn unauthorized() -> Response {
    error(
        401,
        "You must be logged in to perform this action. Please provide a valid API key or log in again.",
        &[],
    )
}

pub(crate) fn forbidden(permission: &str) -> Response {
    error(
        403,
        &format!(
            "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}"
        ),
        &[],
    )
}

/// A change asked with a read-only API key: Octopus's 403, naming the permission the
/// change needed and why the key lacks it (the wording after the permission is the
/// simulator's own; no public source quotes Octopus's).
pub(crate) fn forbidden_read_only(permission: &str) -> Response {
    error(
        403,
        &format!(
            "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}. The request was made with a read-only API key, which can read but not change anything."
        ),
        &[],
    )
}

pub(crate) fn not_found(what: &str) -> Response {
    error(404, &format!("The resource '{what}' was not found."), &[])
}

pub(crate) fn not_owned() -> Response {
    error(
        400,
        "This ApiKey does not belong to the specified user.",
        &[],
    )
}

pub(crate) fn invalid(message: &str) -> Response {
    error(400, "There was a problem with your request.", &[message])
}

pub(crate) fn method_not_allowed() -> Response {
    error(
        405,
        "The requested method is not allowed on this resource.",
        &[],
    )
}
