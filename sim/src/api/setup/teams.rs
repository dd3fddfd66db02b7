//! Teams. A space's teams are listed with the system teams (`SpaceId` null) beside them, as
//! Octopus does; a team is created in a space (TeamCreate), changed as a whole with
//! `PUT /api/teams/{id}` (TeamEdit) and deleted with `DELETE /api/teams/{id}` (TeamDelete),
//! which takes its grants with it and is refused for a built-in team (`CanBeDeleted`
//! false). Each of these also answers under the space, `/api/{space}/teams/{id}`, for a team
//! of that space or a system team. Members are users the server knows; external security
//! groups are kept as sent. Reading teams needs TeamView.

use serde_json::{Value, json};

use super::input::{contains, fabricated_name, json_body, require, string_list, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::{Space, Team};
use crate::render::{PageOf, invalid, not_found, paged};
use crate::state::State;

fn team_json(team: &Team) -> Value {
    json!({
        "Id": team.id,
        "Name": team.name,
        "SpaceId": team.space_id,
        "Description": team.description,
        "MemberUserIds": team.member_user_ids,
        "ExternalSecurityGroups": team.external_security_groups,
        "CanBeDeleted": team.can_be_deleted,
        "CanBeRenamed": true,
        "CanChangeRoles": true,
        "CanChangeMembers": true,
        "Links": {
            "Self": format!("/api/teams/{}", team.id),
            "ScopedUserRoles": format!("/api/teams/{}/scopeduserroles{{?skip,take}}", team.id),
        },
    })
}

pub(super) fn list(state: &State, actor: &Actor, request: &Request, space: &Space) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let mut teams: Vec<&Team> = state
        .prepared
        .teams
        .iter()
        .filter(|t| t.space_id.as_ref().is_none_or(|s| *s == space.id))
        .filter(|t| contains(&t.name, partial.as_deref()))
        .collect();
    teams.sort_by_key(|t| t.name.to_lowercase());
    let extra: Vec<(&str, String)> = partial.iter().map(|p| ("partialName", p.clone())).collect();
    let fabricate = || {
        let n = state.fabricated_number();
        team_json(&Team {
            id: format!("Teams-{n}"),
            name: fabricated_name(partial.as_deref(), n),
            space_id: Some(space.id.clone()),
            description: String::new(),
            member_user_ids: Vec::new(),
            external_security_groups: Vec::new(),
            can_be_deleted: true,
        })
    };
    paged(
        request,
        &state.options,
        "Team",
        teams,
        team_json,
        PageOf {
            base: &format!("/api/{}/teams", space.id),
            filters: &["partialName"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

/// The team `id`; asked under a space (`/api/{space}/teams/{id}`), only a team of that
/// space or a system team.
fn find(state: &State, space: Option<&Space>, id: &str) -> Option<usize> {
    state.prepared.teams.iter().position(|t| {
        t.id == id && space.is_none_or(|space| t.space_id.as_ref().is_none_or(|s| *s == space.id))
    })
}

pub(super) fn one(state: &State, actor: &Actor, space: Option<&Space>, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    match find(state, space, id) {
        Some(index) => Response::json(200, &team_json(&state.prepared.teams[index])),
        None => not_found(id),
    }
}

/// Every member must be a user the server knows.
fn check_members(state: &State, members: &[String]) -> Result<(), Answer> {
    match members.iter().find(|m| state.user(m).is_none()) {
        Some(unknown) => Err(done(invalid(&format!(
            "The user '{unknown}' does not exist."
        )))),
        None => Ok(()),
    }
}

pub(super) fn create(state: &mut State, actor: &Actor, request: &Request, space: &Space) -> Answer {
    if let Err(refused) = require(actor, "TeamCreate") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let name = text(&body, "Name").trim().to_string();
    if name.is_empty() {
        return done(invalid("A team needs a Name."));
    }
    if text(&body, "SpaceId") != space.id {
        return done(invalid(
            "The SpaceId of the team must be the space in the URL.",
        ));
    }
    let taken = state.prepared.teams.iter().any(|t| {
        t.name.eq_ignore_ascii_case(&name) && t.space_id.as_ref().is_none_or(|s| *s == space.id)
    });
    if taken {
        return done(invalid(&format!(
            "A team with the name '{name}' already exists."
        )));
    }
    let members = string_list(&body, "MemberUserIds");
    if let Err(refused) = check_members(state, &members) {
        return refused;
    }
    let team = Team {
        id: format!("Teams-{}", state.next()),
        name,
        space_id: Some(space.id.clone()),
        description: text(&body, "Description").to_string(),
        member_user_ids: members,
        external_security_groups: body
            .get("ExternalSecurityGroups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        can_be_deleted: true,
    };
    state.prepared.teams.push(team.clone());
    let change = Change {
        message: format!("Team {} was created", team.name),
        related_document_ids: vec![team.id.clone()],
    };
    (Response::json(201, &team_json(&team)), Some(change))
}

pub(super) fn update(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: Option<&Space>,
    id: &str,
) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let members = string_list(&body, "MemberUserIds");
    if let Err(refused) = check_members(state, &members) {
        return refused;
    }
    let team = &mut state.prepared.teams[index];
    if let Some(name) = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
    {
        team.name = name.trim().to_string();
    }
    if let Some(description) = body.get("Description").and_then(Value::as_str) {
        team.description = description.to_string();
    }
    team.member_user_ids = members;
    if let Some(groups) = body.get("ExternalSecurityGroups").and_then(Value::as_array) {
        team.external_security_groups = groups.clone();
    }
    let team = team.clone();
    let change = Change {
        message: format!("Team {} was modified", team.name),
        related_document_ids: vec![team.id.clone()],
    };
    (Response::json(200, &team_json(&team)), Some(change))
}

/// `DELETE /api/teams/{id}`: the team and its grants; refused (400) for a built-in team.
pub(super) fn delete(state: &mut State, actor: &Actor, space: Option<&Space>, id: &str) -> Answer {
    if let Err(refused) = require(actor, "TeamDelete") {
        return refused;
    }
    let Some(index) = find(state, space, id) else {
        return done(not_found(id));
    };
    let team = &state.prepared.teams[index];
    if !team.can_be_deleted {
        return done(invalid(&format!(
            "The team '{}' is built in and cannot be deleted.",
            team.name
        )));
    }
    let team = state.prepared.teams.remove(index);
    let mut related = vec![team.id.clone()];
    state.prepared.scoped_roles.retain(|grant| {
        let kept = grant.team_id != team.id;
        if !kept {
            related.push(grant.id.clone());
        }
        kept
    });
    let change = Change {
        message: format!("Team {} was deleted", team.name),
        related_document_ids: related,
    };
    (Response::json(200, &json!({})), Some(change))
}
