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
    let fabricate = || {
        let n = state.fabricated_number();
        space_json(&Space {
            id: format!("Spaces-{n}"),
            name: format!("Fabricated {n}"),
            slug: format!("fabricated-{n}"),
            is_default: false,
        })
    };
    paged(
        request,
        &state.options,
        "Space",
        state.prepared.spaces.iter().collect(),
        space_json,
        PageOf {
            base: "/api/spaces",
            filters: &["partialName"],
            extra: &[],
            fabricate: &fabricate,
        },
    )
}

pub(super) fn one(state: &State, id: &str) -> Response {
    match state.prepared.space(id) {
        Some(space) => Response::json(200, &space_json(space)),
        None => not_found(id),
    }
}
