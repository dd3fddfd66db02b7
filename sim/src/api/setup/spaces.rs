//! Spaces: the list (with `Slug` and `IsDefault`) and one space. Every user may read them.

use serde_json::{Value, json};

use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, not_found, paged};
use crate::state::State;

pub(super) fn space_json(space: &Space) -> Value {
    json!({
        "Id": space.id,
        "Name": space.name,
        "Slug": space.slug,
        "Description": "",
        "IsDefault": space.is_default,
        "TaskQueueStopped": false,
        "SpaceManagersTeams": [],
        "SpaceManagersTeamMembers": [],
        "Links": {"Self": format!("/api/spaces/{}", space.id)},
    })
}

pub(super) fn list(state: &State, request: &Request) -> Response {
    paged(
        request,
        "Space",
        state.prepared.spaces.iter().collect(),
        space_json,
        state.options.max_take,
        PageOf {
            base: "/api/spaces",
            filters: &["partialName"],
            extra: &[],
        },
    )
}

pub(super) fn one(state: &State, id: &str) -> Response {
    match state.prepared.space(id) {
        Some(space) => Response::json(200, &space_json(space)),
        None => not_found(id),
    }
}
