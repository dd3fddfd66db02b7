//! Taking apart what `setup` made: where a step template and an account are used, and
//! their deletion refused while a runbook step (or, for an account, a step template's
//! parameter default) still uses them; deleting a service account's OIDC identity; and the
//! whole safe order (trigger, runbook, step template, grants, team, OIDC identity, API
//! keys, account), each step audited.

use jiff::SignedDuration;
use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::runbooks::{make_runbook, save_steps, seeded_template, snapshot, template_step};
use crate::support::{admin_key, exchange, request};

fn error_text(body: &Value) -> String {
    format!("{} {}", body["ErrorMessage"], body["Errors"])
}

fn oidc_account(f: &Fixture, key: &str) -> String {
    let (status, account) = request(
        f,
        "POST",
        "/api/Spaces-1/accounts",
        key,
        Some(
            json!({"AccountType": "GenericOidcAccount", "Name": "Run key broker", "Audience": "x",
                    "DeploymentSubjectKeys": ["space", "project", "runbook"]}),
        ),
    );
    assert_eq!(status, 201, "{account}");
    account["Id"].as_str().unwrap().to_string()
}

#[test]
fn a_step_template_in_use_is_listed_and_not_deleted() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let template = seeded_template(&f, "Octopus Run Key - Sweep");
    let unused = seeded_template(&f, "Octopus Run Key - Create");
    let (runbook, process) = make_runbook(&f, &key, "Clean up");
    let saved = save_steps(
        &f,
        &key,
        &process,
        json!([template_step("Sweep", &template, "3")]),
    );
    let usage_path = format!("/api/Spaces-1/actiontemplates/{template}/usage");
    let (status, usage) = request(&f, "GET", &usage_path, &key, None);
    assert_eq!(status, 200);
    let step = &saved["Steps"][0];
    assert_eq!(
        usage,
        json!([{
            "ActionTemplateId": template, "ProcessType": "Runbook", "ProcessId": process,
            "ActionId": step["Actions"][0]["Id"], "ActionName": "Sweep",
            "StepId": step["Id"], "StepName": "Sweep",
            "ProjectId": f.project_id, "ProjectName": "Web", "ProjectSlug": "web",
            "RunbookId": runbook["Id"], "RunbookName": "Clean up",
            "ReleaseId": null, "ReleaseVersion": null, "Version": "3",
        }])
    );
    let (_, none) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/actiontemplates/{unused}/usage"),
        &key,
        None,
    );
    assert_eq!(none, json!([]));
    let path = format!("/api/Spaces-1/actiontemplates/{template}");
    let (status, refused) = request(&f, "DELETE", &path, &key, None);
    assert_eq!(status, 400);
    assert!(
        error_text(&refused).contains("step 'Sweep' of runbook 'Clean up'"),
        "{refused}"
    );
    // A snapshot keeps what it froze, but only the live process holds the template.
    snapshot(&f, &key, &runbook, true);
    save_steps(&f, &key, &process, json!([]));
    f.sim.revoke_permission(&f.admin_id, "ActionTemplateDelete");
    let (status, refused) = request(&f, "DELETE", &path, &key, None);
    assert_eq!(status, 403);
    assert!(error_text(&refused).contains("Missing permission: ActionTemplateDelete"));
    f.sim.grant_permission(&f.admin_id, "ActionTemplateDelete");
    let (status, body) = request(&f, "DELETE", &path, &key, None);
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(request(&f, "GET", &path, &key, None).0, 404);
    assert_eq!(request(&f, "GET", &usage_path, &key, None).0, 404);
    assert_eq!(f.sim.action_templates("Spaces-1").len(), 1);
    let deleted = f.sim.audit().into_iter().last().unwrap();
    assert_eq!(
        (deleted.category.as_str(), deleted.message.as_str()),
        (
            "Deleted",
            "Step template Octopus Run Key - Sweep was deleted"
        )
    );
}

#[test]
fn an_account_a_step_or_a_template_default_names_is_not_deleted() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let account = oidc_account(&f, &key);
    let template = seeded_template(&f, "Sweep");
    let (runbook, process) = make_runbook(&f, &key, "Clean up");
    let mut step = template_step("Sweep", &template, "0");
    step["Actions"][0]["Properties"]["Runkey.Account"] = json!(account);
    let saved = save_steps(&f, &key, &process, json!([step]));
    let published = snapshot(&f, &key, &runbook, true);
    let (status, usages) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/accounts/{account}/usages"),
        &key,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        usages["RunbookProcesses"],
        json!([{"ProjectName": "Web", "ProjectId": f.project_id, "ProjectSlug": "web",
                "Steps": [{"StepName": "Sweep", "StepId": saved["Steps"][0]["Id"]}],
                "ProcessId": process, "RunbookId": runbook["Id"], "RunbookName": "Clean up"}])
    );
    assert_eq!(
        usages["RunbookSnapshots"],
        json!([{"RunbookId": runbook["Id"], "RunbookName": "Clean up", "ProjectName": "Web",
                "ProjectId": f.project_id,
                "Snapshots": [{"SnapshotId": published["Id"], "SnapshotName": published["Name"]}]}])
    );
    for empty in [
        "Targets",
        "DeploymentProcesses",
        "Releases",
        "ProjectVariableSets",
        "LibraryVariableSets",
    ] {
        assert_eq!(usages[empty], json!([]), "{empty}");
    }
    let path = format!("/api/Spaces-1/accounts/{account}");
    let (status, refused) = request(&f, "DELETE", &path, &key, None);
    assert_eq!(status, 400);
    assert!(
        error_text(&refused).contains("step 'Sweep' of runbook 'Clean up'"),
        "{refused}"
    );
    // The step goes; a step template whose parameter defaults to the account still holds it.
    save_steps(&f, &key, &process, json!([]));
    f.sim.edit_action_template(&template, |t| {
        t["Parameters"] = json!([{"Id": "p1", "Name": "Runkey.Account", "DefaultValue": account}])
    });
    let (status, refused) = request(&f, "DELETE", &path, &key, None);
    assert_eq!(status, 400);
    assert!(
        error_text(&refused).contains("parameter 'Runkey.Account' of step template 'Sweep'"),
        "{refused}"
    );
    f.sim
        .edit_action_template(&template, |t| t["Parameters"] = json!([]));
    let (status, refused) = request(&f, "DELETE", &path, &f.broker_key, None);
    assert_eq!(status, 403, "{refused}");
    assert!(error_text(&refused).contains("Missing permission: AccountDelete"));
    let (status, body) = request(&f, "DELETE", &path, &key, None);
    assert_eq!(
        (status, body),
        (200, json!({})),
        "a snapshot alone does not keep it"
    );
    assert!(f.sim.accounts().is_empty());
    assert_eq!(
        f.sim.audit().last().unwrap().message,
        "Account Run key broker was deleted"
    );
}

#[test]
fn deleting_an_oidc_identity_ends_the_trust() {
    let f = Fixture::new();
    let key = admin_key(&f);
    f.sim.add_oidc_identity(&f.broker_id, "space:default:*");
    let identity = f.sim.oidc_identities()[0].id.clone();
    let audience = f.sim.external_id(&f.broker_id);
    let jwt = f.sim.oidc_jwt(
        "space:default:project:web",
        &audience,
        SignedDuration::from_mins(5),
    );
    assert_eq!(exchange(&f, &jwt, &audience).0, 200);
    let path = format!(
        "/api/serviceaccounts/{}/oidcidentities/{identity}/v1",
        f.broker_id
    );
    let (status, refused) = request(&f, "DELETE", &path, &f.broker_key, None);
    assert_eq!(status, 403, "{refused}");
    let (status, _) = request(
        &f,
        "DELETE",
        &format!(
            "/api/serviceaccounts/{}/oidcidentities/{identity}/v1",
            f.operator_id
        ),
        &key,
        None,
    );
    assert_eq!(status, 404, "not an identity of that account");
    let (status, body) = request(&f, "DELETE", &path, &key, None);
    assert_eq!((status, body), (200, json!({})));
    assert!(f.sim.oidc_identities().is_empty());
    assert_eq!(
        exchange(&f, &jwt, &audience).0,
        400,
        "no identity trusts it now"
    );
    assert_eq!(request(&f, "DELETE", &path, &key, None).0, 404);
    let removed = f.sim.audit().into_iter().last().unwrap();
    assert_eq!(removed.category, "Deleted");
    assert_eq!(
        removed.related_document_ids,
        [identity, f.broker_id.clone()]
    );
}

#[test]
fn everything_setup_made_comes_apart_in_the_safe_order() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let template = seeded_template(&f, "Sweep");
    let account = oidc_account(&f, &key);
    let (runbook, process) = make_runbook(&f, &key, "Sweep");
    let mut step = template_step("Sweep", &template, "0");
    step["Actions"][0]["Properties"]["Runkey.Account"] = json!(account);
    save_steps(&f, &key, &process, json!([step]));
    snapshot(&f, &key, &runbook, true);
    let (status, trigger) = request(
        &f,
        "POST",
        "/api/Spaces-1/projecttriggers",
        &key,
        Some(json!({"Name": "Sweep", "ProjectId": f.project_id,
                    "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"], "EnvironmentIds": [f.production_id]},
                    "Filter": {"FilterType": "CronExpressionSchedule", "CronExpression": "0 */15 * * * *", "Timezone": "UTC"}})),
    );
    assert_eq!(status, 201, "{trigger}");
    let (_, team) = request(
        &f,
        "POST",
        "/api/Spaces-1/teams",
        &key,
        Some(
            json!({"Name": "svc-runbooks", "SpaceId": "Spaces-1", "MemberUserIds": [f.broker_id]}),
        ),
    );
    let (_, grant) = request(
        &f,
        "POST",
        "/api/scopeduserroles",
        &key,
        Some(
            json!({"TeamId": team["Id"], "UserRoleId": "userroles-runbookconsumer", "SpaceId": "Spaces-1"}),
        ),
    );
    f.sim.add_oidc_identity(&f.broker_id, "space:default:*");
    let identity = f.sim.oidc_identities()[0].id.clone();
    let (minted, _) = f.sim.add_api_key(&f.broker_id, "sweep key", None);
    let before = f.sim.audit().len();
    let id = |v: &Value| v["Id"].as_str().unwrap().to_string();
    for path in [
        format!("/api/Spaces-1/projecttriggers/{}", id(&trigger)),
        format!("/api/Spaces-1/runbooks/{}", id(&runbook)),
        format!("/api/Spaces-1/actiontemplates/{template}"),
        format!("/api/Spaces-1/scopeduserroles/{}", id(&grant)),
        format!("/api/Spaces-1/teams/{}", id(&team)),
        format!(
            "/api/serviceaccounts/{}/oidcidentities/{identity}/v1",
            f.broker_id
        ),
        format!("/api/users/{}/apikeys/{minted}", f.broker_id),
        format!("/api/Spaces-1/accounts/{account}"),
    ] {
        let (status, body) = request(&f, "DELETE", &path, &key, None);
        assert_eq!(status, 200, "{path}: {body}");
    }
    let events = &f.sim.audit()[before..];
    assert_eq!(events.len(), 8);
    assert!(
        events
            .iter()
            .all(|e| e.category == "Deleted" && e.user_id == f.admin_id)
    );
    assert!(f.sim.project_triggers().is_empty() && f.sim.runbooks().is_empty());
    assert!(f.sim.scoped_user_roles().is_empty() && f.sim.accounts().is_empty());
    assert_eq!(f.sim.teams().len(), 1);
}
