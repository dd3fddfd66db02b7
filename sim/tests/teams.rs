//! Teams and their scoped grants: external security groups and members kept as sent, a
//! team seeded with both, deletion (refused for a built-in team, taking the team's grants
//! with it); grants keeping their scopes as sent (an empty list means all), replaced whole
//! by PUT, deleted, each under `/api/...` and under the space, with their permission checks
//! and audit events.

use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::support::{admin_key, request};

const SPACE_MANAGERS: &str = "teams-spacemanagers-Spaces-1";

fn team_with_broker(f: &Fixture, key: &str) -> String {
    let (status, team) = request(
        f,
        "POST",
        "/api/Spaces-1/teams",
        key,
        Some(json!({"Name": "Broker team", "SpaceId": "Spaces-1", "MemberUserIds": [f.broker_id]})),
    );
    assert_eq!(status, 201, "{team}");
    team["Id"].as_str().unwrap().to_string()
}

fn grant(f: &Fixture, key: &str, body: Value) -> (u16, Value) {
    request(f, "POST", "/api/scopeduserroles", key, Some(body))
}

fn grants_of(f: &Fixture, key: &str, team: &str) -> Vec<Value> {
    let (status, page) = request(
        f,
        "GET",
        &format!("/api/teams/{team}/scopeduserroles"),
        key,
        None,
    );
    assert_eq!(status, 200, "{page}");
    page["Items"].as_array().unwrap().clone()
}

fn error_text(body: &Value) -> String {
    format!("{} {}", body["ErrorMessage"], body["Errors"])
}

#[test]
fn a_grant_keeps_its_scopes_as_sent_and_reads_back_with_them() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let team = team_with_broker(&f, &key);
    let tenant = f.sim.add_tenant("Spaces-1", "Acme");
    let group = f.sim.projects()[0].project_group_id.clone();
    let (status, made) = grant(
        &f,
        &key,
        json!({
            "TeamId": team, "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1",
            "ProjectIds": [f.project_id], "EnvironmentIds": [f.production_id, f.staging_id],
            "ProjectGroupIds": [group], "TenantIds": [tenant],
        }),
    );
    assert_eq!(status, 201, "{made}");
    let listed = grants_of(&f, &key, &team);
    assert_eq!(listed.len(), 1);
    let read = &listed[0];
    assert_eq!(read["Id"], made["Id"]);
    assert_eq!(read["ProjectIds"], json!([f.project_id]));
    assert_eq!(
        read["EnvironmentIds"],
        json!([f.production_id, f.staging_id])
    );
    assert_eq!(read["ProjectGroupIds"], json!([group]));
    assert_eq!(read["TenantIds"], json!([tenant]));
    let stored = f.sim.scoped_user_roles();
    assert!(!stored[0].is_whole_space());
    // Without scopes, the grant covers the whole space: empty lists, not missing ones.
    let (_, whole) = grant(
        &f,
        &key,
        json!({"TeamId": team, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1"}),
    );
    assert_eq!(whole["ProjectIds"], json!([]));
    assert_eq!(whole["TenantIds"], json!([]));
    assert!(f.sim.scoped_user_roles()[1].is_whole_space());
}

#[test]
fn a_scope_must_name_things_of_the_grants_space() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let team = team_with_broker(&f, &key);
    let elsewhere = f.sim.add_space("Ops", false);
    let far_project = f.sim.add_project(&elsewhere, "Elsewhere");
    for (field, id, kind) in [
        ("ProjectIds", "Projects-99", "project"),
        ("ProjectIds", far_project.as_str(), "project"),
        ("EnvironmentIds", "Environments-99", "environment"),
        ("ProjectGroupIds", "ProjectGroups-99", "project group"),
        ("TenantIds", "Tenants-99", "tenant"),
    ] {
        let mut body = json!({"TeamId": team, "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1"});
        body[field] = json!([id]);
        let (status, refused) = grant(&f, &key, body);
        assert_eq!(status, 400, "{field} {id}: {refused}");
        assert!(
            error_text(&refused).contains(&format!("The {kind} '{id}' does not exist")),
            "{refused}"
        );
    }
    assert!(f.sim.scoped_user_roles().is_empty());
}

#[test]
fn put_replaces_a_grant_whole_under_either_path() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let team = team_with_broker(&f, &key);
    let (_, made) = grant(
        &f,
        &key,
        json!({"TeamId": team, "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1",
               "EnvironmentIds": [f.production_id], "ProjectIds": [f.project_id]}),
    );
    let id = made["Id"].as_str().unwrap().to_string();
    // Only the project this time: the environments left out become "all".
    let (status, replaced) = request(
        &f,
        "PUT",
        &format!("/api/Spaces-1/scopeduserroles/{id}"),
        &key,
        Some(
            json!({"Id": id, "TeamId": team, "UserRoleId": "userroles-runbookconsumer",
                    "SpaceId": "Spaces-1", "ProjectIds": [f.project_id]}),
        ),
    );
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["EnvironmentIds"], json!([]));
    assert_eq!(
        grants_of(&f, &key, &team)[0]["ProjectIds"],
        json!([f.project_id])
    );
    // The system-level path, with another role and the environments back.
    let (status, again) = request(
        &f,
        "PUT",
        &format!("/api/scopeduserroles/{id}"),
        &key,
        Some(
            json!({"TeamId": team, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1",
                    "EnvironmentIds": [f.staging_id]}),
        ),
    );
    assert_eq!(status, 200, "{again}");
    let read = &grants_of(&f, &key, &team)[0];
    assert_eq!(read["UserRoleId"], "userroles-projectviewer");
    assert_eq!(read["EnvironmentIds"], json!([f.staging_id]));
    assert_eq!(read["ProjectIds"], json!([]));
    assert_eq!(f.sim.scoped_user_roles().len(), 1, "replaced, not added");
    let events: Vec<_> = f
        .sim
        .audit()
        .into_iter()
        .filter(|e| e.related_document_ids.contains(&id))
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e.category.as_str())
            .collect::<Vec<_>>(),
        ["Created", "Modified", "Modified"]
    );
    assert_eq!(events[1].user_id, f.admin_id);
    assert!(
        events[1]
            .identity_established_with
            .starts_with("API key 'admin'")
    );
    // Refusals: another team, an unknown grant, an unknown scope, no TeamEdit.
    let other = team_with_other_name(&f, &key);
    let body =
        json!({"TeamId": other, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1"});
    let path = format!("/api/scopeduserroles/{id}");
    let (status, refused) = request(&f, "PUT", &path, &key, Some(body));
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("The team of a grant cannot be changed"));
    let (status, _) = request(
        &f,
        "PUT",
        "/api/scopeduserroles/ScopedUserRoles-999",
        &key,
        Some(json!({})),
    );
    assert_eq!(status, 404);
    let bad = json!({"TeamId": team, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1",
                     "TenantIds": ["Tenants-5"]});
    assert_eq!(request(&f, "PUT", &path, &key, Some(bad)).0, 400);
    f.sim.revoke_permission(&f.admin_id, "TeamEdit");
    let (status, refused) = request(&f, "PUT", &path, &key, Some(json!({})));
    assert_eq!(status, 403);
    assert!(
        refused["ErrorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Missing permission: TeamEdit")
    );
    assert_eq!(
        grants_of(&f, &key, &team)[0]["EnvironmentIds"],
        json!([f.staging_id]),
        "nothing refused changed anything"
    );
}

fn team_with_other_name(f: &Fixture, key: &str) -> String {
    let (_, team) = request(
        f,
        "POST",
        "/api/Spaces-1/teams",
        key,
        Some(json!({"Name": "Other team", "SpaceId": "Spaces-1"})),
    );
    team["Id"].as_str().unwrap().to_string()
}

#[test]
fn deleting_a_grant_takes_the_role_away_from_the_team() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let team = team_with_broker(&f, &key);
    let projects = "/api/Spaces-1/projects/all";
    assert_eq!(request(&f, "GET", projects, &f.broker_key, None).0, 403);
    let (_, made) = grant(
        &f,
        &key,
        json!({"TeamId": team, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1"}),
    );
    let id = made["Id"].as_str().unwrap();
    assert_eq!(request(&f, "GET", projects, &f.broker_key, None).0, 200);
    let (status, one) = request(&f, "GET", &format!("/api/scopeduserroles/{id}"), &key, None);
    assert_eq!((status, one["TeamId"].as_str()), (200, Some(team.as_str())));
    let (status, gone) = request(
        &f,
        "DELETE",
        &format!("/api/spaces/Spaces-1/scopeduserroles/{id}"),
        &key,
        None,
    );
    assert_eq!((status, gone), (200, json!({})));
    assert_eq!(request(&f, "GET", projects, &f.broker_key, None).0, 403);
    assert!(grants_of(&f, &key, &team).is_empty());
    let (status, _) = request(
        &f,
        "DELETE",
        &format!("/api/scopeduserroles/{id}"),
        &key,
        None,
    );
    assert_eq!(status, 404, "already gone");
    let deleted = f.sim.audit().into_iter().last().unwrap();
    assert_eq!(deleted.category, "Deleted");
    assert_eq!(
        deleted.message,
        "Role Project viewer was revoked from team Broker team"
    );
    assert_eq!(deleted.related_document_ids, [id.to_string(), team.clone()]);
}

#[test]
fn teams_keep_external_groups_and_members_as_sent() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let domain_users = json!({"Id": "S-1-5-21-1004336348-1177238915-682003330-513", "DisplayName": "Domain Users"});
    let (status, team) = request(
        &f,
        "POST",
        "/api/Spaces-1/teams",
        &key,
        Some(
            json!({"Name": "Everyone at the office", "SpaceId": "Spaces-1",
                    "MemberUserIds": [f.operator_id], "ExternalSecurityGroups": [domain_users]}),
        ),
    );
    assert_eq!(status, 201);
    let id = team["Id"].as_str().unwrap();
    let (_, read) = request(&f, "GET", &format!("/api/Spaces-1/teams/{id}"), &key, None);
    assert_eq!(read["ExternalSecurityGroups"], json!([domain_users]));
    assert_eq!(read["MemberUserIds"], json!([f.operator_id]));
    assert_eq!(read["CanBeDeleted"], true);
    // Seeded the same way, a system team seen from the space.
    let seeded = f.sim.add_team(
        None,
        "Domain people",
        &[&f.operator_id, &f.broker_id],
        &[("S-1-5-21-1-2-3-513", "Domain Users")],
    );
    let (_, page) = request(
        &f,
        "GET",
        "/api/Spaces-1/teams?partialName=domain",
        &key,
        None,
    );
    let listed = &page["Items"][0];
    assert_eq!(listed["Id"], seeded.as_str());
    assert_eq!(listed["SpaceId"], Value::Null);
    assert_eq!(listed["MemberUserIds"], json!([f.operator_id, f.broker_id]));
    assert_eq!(
        listed["ExternalSecurityGroups"],
        json!([{"Id": "S-1-5-21-1-2-3-513", "DisplayName": "Domain Users"}])
    );
}

#[test]
fn deleting_a_team_takes_its_grants_and_spares_built_in_teams() {
    let f = Fixture::new();
    let key = admin_key(&f);
    // The built-in team says it cannot be deleted, and is not.
    let (_, managers) = request(
        &f,
        "GET",
        &format!("/api/teams/{SPACE_MANAGERS}"),
        &key,
        None,
    );
    assert_eq!(managers["CanBeDeleted"], false);
    for path in [
        format!("/api/teams/{SPACE_MANAGERS}"),
        format!("/api/Spaces-1/teams/{SPACE_MANAGERS}"),
    ] {
        let (status, refused) = request(&f, "DELETE", &path, &key, None);
        assert_eq!(status, 400, "{path}");
        assert!(
            error_text(&refused).contains("cannot be deleted"),
            "{refused}"
        );
    }
    let team = team_with_broker(&f, &key);
    let other = team_with_other_name(&f, &key);
    for t in [&team, &other] {
        let (status, _) = grant(
            &f,
            &key,
            json!({"TeamId": t, "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-1"}),
        );
        assert_eq!(status, 201);
    }
    // Not a team of another space through that space's path; TeamDelete is needed.
    let ops = f.sim.add_space("Ops", false);
    assert_eq!(
        request(
            &f,
            "DELETE",
            &format!("/api/{ops}/teams/{team}"),
            &key,
            None
        )
        .0,
        404
    );
    f.sim.revoke_permission(&f.admin_id, "TeamDelete");
    let (status, refused) = request(&f, "DELETE", &format!("/api/teams/{team}"), &key, None);
    assert_eq!(status, 403);
    assert!(error_text(&refused).contains("Missing permission: TeamDelete"));
    f.sim.grant_permission(&f.admin_id, "TeamDelete");
    let (status, _) = request(
        &f,
        "DELETE",
        &format!("/api/Spaces-1/teams/{team}"),
        &key,
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = request(&f, "DELETE", &format!("/api/teams/{other}"), &key, None);
    assert_eq!(status, 200);
    assert_eq!(
        request(&f, "GET", &format!("/api/teams/{team}"), &key, None).0,
        404
    );
    assert!(
        f.sim.scoped_user_roles().is_empty(),
        "the grants went with them"
    );
    assert_eq!(f.sim.teams().len(), 1, "only Space Managers is left");
    let deleted = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.category == "Deleted")
        .unwrap();
    assert_eq!(deleted.message, "Team Broker team was deleted");
    assert_eq!(deleted.related_document_ids[0], team);
}
