//! API key access levels (Octopus 2026.3): by default a server ignores an `AccessLevel`
//! in the create body (every key has full access) and reads show none; a server can honour
//! the field or refuse it as unknown; reads show the level when switched on, never in the
//! create answer; and a read-only key reads but every change it asks for, deleting itself
//! included, is refused with Octopus's 403 naming the permission the change needed.

use jiff::SignedDuration;
use octopus_sim::{AccessLevel, AccessLevelField, Fixture, Options};
use serde_json::{Value, json};

use crate::support::request;

fn with(field: AccessLevelField, in_reads: bool) -> Fixture {
    Fixture::with_options(Options {
        access_level_field: field,
        access_level_in_reads: in_reads,
        ..Options::default()
    })
}

/// Asks for a key of the broker with `access` (a JSON value, or no field): (status, answer).
fn create_with(f: &Fixture, access: Option<Value>) -> (u16, Value) {
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(1));
    let mut body = json!({"Purpose": "run key", "Expires": expires, "UserId": f.broker_id});
    if let Some(access) = access {
        body["AccessLevel"] = access;
    }
    request(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(body),
    )
}

fn level_of(f: &Fixture, id: &str) -> AccessLevel {
    f.sim
        .keys(&f.broker_id)
        .into_iter()
        .find(|k| k.id == id)
        .unwrap()
        .access_level
}

fn error_text(body: &Value) -> String {
    format!("{} {}", body["ErrorMessage"], body["Errors"])
}

#[test]
fn by_default_the_field_is_ignored_and_reads_show_no_level() {
    assert_eq!(
        Options::default().access_level_field,
        AccessLevelField::Ignored
    );
    assert!(!Options::default().access_level_in_reads);
    let f = Fixture::new();
    let (status, created) = create_with(&f, Some(json!("ReadOnly")));
    assert_eq!(status, 200, "{created}");
    let id = created["Id"].as_str().unwrap();
    assert_eq!(
        level_of(&f, id),
        AccessLevel::FullAccess,
        "asked, not given"
    );
    assert!(created.get("AccessLevel").is_none());
    let (_, one) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys/{id}", f.broker_id),
        &f.broker_key,
        None,
    );
    assert!(one.get("AccessLevel").is_none(), "{one}");
    // The key it got changes things.
    let key = created["ApiKey"].as_str().unwrap();
    let (status, _) = request(
        &f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        key,
        Some(
            json!({"Purpose": "minted", "Expires": octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_mins(30))}),
        ),
    );
    assert_eq!(status, 200);
    assert!(
        f.sim
            .keys(&f.broker_id)
            .iter()
            .all(|k| k.access_level == AccessLevel::FullAccess)
    );
}

#[test]
fn an_honouring_server_makes_a_read_only_key_and_reads_say_so() {
    let f = with(AccessLevelField::Honoured, true);
    let (status, created) = create_with(&f, Some(json!("ReadOnly")));
    assert_eq!(status, 200, "{created}");
    assert!(
        created.get("AccessLevel").is_none(),
        "not in the create answer: {created}"
    );
    let id = created["Id"].as_str().unwrap().to_string();
    assert_eq!(level_of(&f, &id), AccessLevel::ReadOnly);
    let (_, one) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys/{id}", f.broker_id),
        &f.broker_key,
        None,
    );
    assert_eq!(one["AccessLevel"], "ReadOnly");
    let (_, page) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        None,
    );
    let levels: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["AccessLevel"].as_str().unwrap())
        .collect();
    assert_eq!(levels.iter().filter(|l| **l == "ReadOnly").count(), 1);
    assert_eq!(levels.iter().filter(|l| **l == "FullAccess").count(), 3);
    // FullAccess asked, or nothing asked: a full key.
    let (_, full) = create_with(&f, Some(json!("FullAccess")));
    assert_eq!(
        level_of(&f, full["Id"].as_str().unwrap()),
        AccessLevel::FullAccess
    );
    let (_, plain) = create_with(&f, None);
    assert_eq!(
        level_of(&f, plain["Id"].as_str().unwrap()),
        AccessLevel::FullAccess
    );
    // Custom needs what no body carries; anything else is no level at all.
    for (sent, says) in [
        (json!("Custom"), "web portal"),
        (json!("readonly"), "is not an API key access level"),
        (json!(1), "is not an API key access level"),
    ] {
        let (status, refused) = create_with(&f, Some(sent.clone()));
        assert_eq!(status, 400, "{sent}");
        assert!(error_text(&refused).contains(says), "{refused}");
    }
}

#[test]
fn a_strict_server_refuses_the_unknown_field() {
    let f = with(AccessLevelField::Refused, false);
    let (status, refused) = create_with(&f, Some(json!("ReadOnly")));
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("'AccessLevel'"), "{refused}");
    assert_eq!(f.sim.keys(&f.broker_id).len(), 3, "no key was made");
    let (status, _) = create_with(&f, None);
    assert_eq!(status, 200, "without the field, a key as ever");
}

#[test]
fn a_read_only_key_reads_but_cannot_delete_itself() {
    let f = with(AccessLevelField::Ignored, true);
    let (id, key) = f.sim.add_api_key_with_access(
        &f.broker_id,
        "read-only run key",
        None,
        AccessLevel::ReadOnly,
    );
    let (status, me) = request(&f, "GET", "/api/users/me", &key, None);
    assert_eq!(
        (status, me["Id"].as_str()),
        (200, Some(f.broker_id.as_str()))
    );
    let (status, _) = request(&f, "GET", "/api/events", &key, None);
    assert_eq!(status, 200);
    let (status, refused) = request(
        &f,
        "DELETE",
        &format!("/api/users/{}/apikeys/{id}", f.broker_id),
        &key,
        None,
    );
    assert_eq!(status, 403);
    let message = refused["ErrorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: UserEdit"),
        "{message}"
    );
    assert!(message.contains("read-only API key"), "{message}");
    for field in ["Errors", "FullException", "HelpText", "HelpLink", "Details"] {
        assert!(refused.get(field).is_some(), "{field}");
    }
    assert!(
        f.sim.keys(&f.broker_id).iter().any(|k| k.id == id),
        "still there"
    );
    // The broker's full key deletes it.
    let (status, _) = request(
        &f,
        "DELETE",
        &format!("/api/users/{}/apikeys/{id}", f.broker_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 200);
    // A Custom key shows its level and acts, in the simulator, with its user's permissions.
    let (custom_id, custom) =
        f.sim
            .add_api_key_with_access(&f.broker_id, "custom", None, AccessLevel::Custom);
    let (_, one) = request(
        &f,
        "GET",
        &format!("/api/users/{}/apikeys/{custom_id}", f.broker_id),
        &custom,
        None,
    );
    assert_eq!(one["AccessLevel"], "Custom");
    let (status, _) = request(
        &f,
        "PUT",
        &format!("/api/Spaces-1/machines/{}", f.machine_id),
        &custom,
        Some(json!({"Id": f.machine_id, "Name": "web-01", "IsDisabled": true})),
    );
    assert_eq!(status, 200);
}

#[test]
fn every_change_a_read_only_key_asks_for_is_refused_naming_its_permission() {
    let f = Fixture::new();
    let (_, read_only) =
        f.sim
            .add_api_key_with_access(&f.admin_id, "admin, read-only", None, AccessLevel::ReadOnly);
    let (_, nobody) = f.sim.add_api_key(&f.operator_id, "operator", None);
    let (template, runbook) = (
        f.sim.add_action_template(
            "Spaces-1",
            json!({"Name": "T", "ActionType": "Octopus.Script"}),
        ),
        f.sim.add_runbook("Spaces-1", &f.project_id, "R"),
    );
    let admin = &f.admin_id;
    let broker = &f.broker_id;
    let changes: Vec<(&str, String, &str)> = vec![
        ("POST", "/api/users".into(), "UserEdit"),
        ("POST", format!("/api/users/{broker}/apikeys"), "UserEdit"),
        (
            "DELETE",
            format!("/api/users/{broker}/apikeys/{}", f.broker_key_id),
            "UserEdit",
        ),
        (
            "POST",
            format!("/api/serviceaccounts/{broker}/oidcidentities/create/v1"),
            "UserEdit",
        ),
        (
            "DELETE",
            format!("/api/serviceaccounts/{broker}/oidcidentities/OidcIdentities-1/v1"),
            "UserEdit",
        ),
        (
            "PUT",
            format!("/api/Spaces-1/machines/{}", f.machine_id),
            "MachineEdit",
        ),
        (
            "POST",
            "/api/Spaces-1/packages/raw".into(),
            "BuiltInFeedPush",
        ),
        (
            "POST",
            "/api/Spaces-1/actiontemplates".into(),
            "ActionTemplateCreate",
        ),
        (
            "PUT",
            format!("/api/Spaces-1/actiontemplates/{template}"),
            "ActionTemplateEdit",
        ),
        (
            "DELETE",
            format!("/api/spaces/Spaces-1/actiontemplates/{template}"),
            "ActionTemplateDelete",
        ),
        ("POST", "/api/Spaces-1/teams".into(), "TeamCreate"),
        (
            "PUT",
            "/api/teams/teams-spacemanagers-Spaces-1".into(),
            "TeamEdit",
        ),
        (
            "DELETE",
            "/api/Spaces-1/teams/teams-spacemanagers-Spaces-1".into(),
            "TeamDelete",
        ),
        ("POST", "/api/scopeduserroles".into(), "TeamEdit"),
        (
            "PUT",
            "/api/Spaces-1/scopeduserroles/ScopedUserRoles-1".into(),
            "TeamEdit",
        ),
        (
            "DELETE",
            "/api/scopeduserroles/ScopedUserRoles-1".into(),
            "TeamEdit",
        ),
        ("POST", "/api/Spaces-1/accounts".into(), "AccountCreate"),
        (
            "PUT",
            "/api/Spaces-1/accounts/Accounts-1".into(),
            "AccountEdit",
        ),
        (
            "DELETE",
            "/api/Spaces-1/accounts/Accounts-1".into(),
            "AccountDelete",
        ),
        ("POST", "/api/Spaces-1/runbooks".into(), "RunbookEdit"),
        (
            "PUT",
            format!("/api/Spaces-1/runbooks/{runbook}"),
            "RunbookEdit",
        ),
        (
            "DELETE",
            format!("/api/Spaces-1/runbooks/{runbook}"),
            "RunbookEdit",
        ),
        (
            "PUT",
            format!("/api/Spaces-1/runbookProcesses/RunbookProcess-{runbook}"),
            "RunbookEdit",
        ),
        (
            "POST",
            "/api/Spaces-1/runbookSnapshots?publish=true".into(),
            "RunbookEdit",
        ),
        (
            "POST",
            "/api/Spaces-1/projecttriggers".into(),
            "TriggerCreate",
        ),
        (
            "PUT",
            "/api/Spaces-1/projecttriggers/ProjectTriggers-1".into(),
            "TriggerEdit",
        ),
        (
            "DELETE",
            "/api/Spaces-1/projecttriggers/ProjectTriggers-1".into(),
            "TriggerDelete",
        ),
    ];
    let audit_before = f.sim.audit().len();
    for (method, path, permission) in &changes {
        let (status, refused) = request(&f, method, path, &read_only, Some(json!({})));
        assert_eq!(status, 403, "{method} {path}: {refused}");
        let message = refused["ErrorMessage"].as_str().unwrap();
        assert!(
            message.contains(&format!("Missing permission: {permission}."))
                && message.contains("read-only API key"),
            "{method} {path}: {message}"
        );
        // A full key of a user without the permission is told the same permission (own
        // keys and identities aside: a user changes those with no permission at all).
        if !path.contains(broker) && !path.contains(admin) {
            let (status, body) = request(&f, method, path, &nobody, Some(json!({})));
            assert_eq!(status, 403, "{method} {path}: {body}");
            assert!(
                body["ErrorMessage"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("Missing permission: {permission}")),
                "{method} {path}: {body}"
            );
        }
    }
    assert_eq!(f.sim.audit().len(), audit_before, "nothing changed");
    assert_eq!(f.sim.keys(&f.broker_id).len(), 3);
    assert!(!f.sim.machine(&f.machine_id).unwrap().is_disabled);
    // Reads go through.
    for path in [
        "/api/Spaces-1/runbooks",
        "/api/Spaces-1/projects/all",
        "/api/Spaces-1/actiontemplates",
    ] {
        assert_eq!(request(&f, "GET", path, &read_only, None).0, 200, "{path}");
    }
}
