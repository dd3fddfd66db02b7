//! Teams, user roles and the grants between them. A space's teams are listed with the
//! system teams (`SpaceId` null) beside them, as Octopus does; a team is created in a space
//! (TeamCreate) and changed as a whole with `PUT /api/teams/{id}` (TeamEdit). User roles
//! (`/api/userroles/all`, UserRoleView) are granted to a team in a space with
//! `POST /api/scopeduserroles` (TeamEdit); a role with only system permissions cannot go on
//! a space team. Reading teams and their grants needs TeamView.

use serde_json::{Value, json};

use super::input::{contains, fabricated_name, json_body, require, string_list, text};
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::{ScopedUserRole, Space, Team};
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
        "CanBeDeleted": true,
        "CanBeRenamed": true,
        "CanChangeRoles": true,
        "CanChangeMembers": true,
        "Links": {
            "Self": format!("/api/teams/{}", team.id),
            "ScopedUserRoles": format!("/api/teams/{}/scopeduserroles{{?skip,take}}", team.id),
        },
    })
}

fn grant_json(grant: &ScopedUserRole) -> Value {
    json!({
        "Id": grant.id,
        "TeamId": grant.team_id,
        "UserRoleId": grant.user_role_id,
        "SpaceId": grant.space_id,
        "ProjectIds": grant.project_ids,
        "EnvironmentIds": grant.environment_ids,
        "ProjectGroupIds": grant.project_group_ids,
        "TenantIds": grant.tenant_ids,
        "Links": {"Self": format!("/api/scopeduserroles/{}", grant.id)},
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

pub(super) fn one(state: &State, actor: &Actor, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    match state.prepared.teams.iter().find(|t| t.id == id) {
        Some(team) => Response::json(200, &team_json(team)),
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
    };
    state.prepared.teams.push(team.clone());
    let change = Change {
        message: format!("Team {} was created", team.name),
        related_document_ids: vec![team.id.clone()],
    };
    (Response::json(201, &team_json(&team)), Some(change))
}

pub(super) fn update(state: &mut State, actor: &Actor, request: &Request, id: &str) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let Some(index) = state.prepared.teams.iter().position(|t| t.id == id) else {
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

pub(super) fn roles(state: &State, actor: &Actor) -> Response {
    if let Err((refused, _)) = require(actor, "UserRoleView") {
        return refused;
    }
    let roles: Vec<Value> = state
        .prepared
        .user_roles
        .iter()
        .map(|role| {
            json!({
                "Id": role.id,
                "Name": role.name,
                "Description": "",
                "SupportedRestrictions": [],
                "SpacePermissionDescriptions": [],
                "SystemPermissionDescriptions": [],
                "GrantedSpacePermissions": role.space_permissions,
                "GrantedSystemPermissions": role.system_permissions,
                "CanBeDeleted": false,
                "Links": {"Self": format!("/api/userroles/{}", role.id)},
            })
        })
        .collect();
    Response::json(200, &Value::Array(roles))
}

pub(super) fn grants(state: &State, actor: &Actor, request: &Request, team_id: &str) -> Response {
    if let Err((refused, _)) = require(actor, "TeamView") {
        return refused;
    }
    if !state.prepared.teams.iter().any(|t| t.id == team_id) {
        return not_found(team_id);
    }
    let grants: Vec<&ScopedUserRole> = state
        .prepared
        .scoped_roles
        .iter()
        .filter(|g| g.team_id == team_id)
        .collect();
    let fabricate = || {
        let n = state.fabricated_number();
        grant_json(&ScopedUserRole {
            id: format!("ScopedUserRoles-{n}"),
            team_id: team_id.to_string(),
            user_role_id: format!("userroles-fabricated-{n}"),
            space_id: Some("Spaces-1".to_string()),
            project_ids: Vec::new(),
            environment_ids: Vec::new(),
            project_group_ids: Vec::new(),
            tenant_ids: Vec::new(),
        })
    };
    paged(
        request,
        &state.options,
        "ScopedUserRole",
        grants,
        grant_json,
        PageOf {
            base: &format!("/api/teams/{team_id}/scopeduserroles"),
            filters: &[],
            extra: &[],
            fabricate: &fabricate,
        },
    )
}

pub(super) fn grant(state: &mut State, actor: &Actor, request: &Request) -> Answer {
    if let Err(refused) = require(actor, "TeamEdit") {
        return refused;
    }
    let body = match json_body(request) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Some(team) = state
        .prepared
        .teams
        .iter()
        .find(|t| t.id == text(&body, "TeamId"))
        .cloned()
    else {
        return done(invalid("The team does not exist."));
    };
    let Some(role) = state
        .prepared
        .user_roles
        .iter()
        .find(|r| r.id == text(&body, "UserRoleId"))
        .cloned()
    else {
        return done(invalid("The user role does not exist."));
    };
    let space_id = body
        .get("SpaceId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(team_space) = &team.space_id {
        if space_id.as_ref() != Some(team_space) {
            return done(invalid(
                "A space team's roles must be scoped to its own space.",
            ));
        }
        if role.space_permissions.is_empty() {
            return done(invalid(&format!(
                "The role '{}' only has system permissions and cannot be assigned to a space team.",
                role.name
            )));
        }
    }
    let grant = ScopedUserRole {
        id: format!("ScopedUserRoles-{}", state.next()),
        team_id: team.id.clone(),
        user_role_id: role.id.clone(),
        space_id,
        project_ids: string_list(&body, "ProjectIds"),
        environment_ids: string_list(&body, "EnvironmentIds"),
        project_group_ids: string_list(&body, "ProjectGroupIds"),
        tenant_ids: string_list(&body, "TenantIds"),
    };
    state.prepared.scoped_roles.push(grant.clone());
    let change = Change {
        message: format!("Role {} was granted to team {}", role.name, team.name),
        related_document_ids: vec![grant.id.clone(), team.id.clone()],
    };
    (Response::json(201, &grant_json(&grant)), Some(change))
}
