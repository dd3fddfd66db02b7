//! Scheduled triggers that run a runbook: only a published runbook can have one; the
//! filter is checked as Octopus checks it (a `TimeZone` spelt so is no time zone); triggers
//! are listed by runbook, replaced whole, deleted, and a runbook that a trigger runs is not
//! deleted under it.

use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::runbooks::{make_runbook, snapshot};
use crate::support::{admin_key, request};

fn every_15_minutes() -> Value {
    json!({
        "FilterType": "ContinuousDailySchedule", "Timezone": "UTC", "Interval": "OnceEveryMinute",
        "MinuteInterval": 15, "RunAfter": "2026-01-01T00:00:00.000", "RunUntil": "2026-01-01T23:59:00.000",
        "DaysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    })
}

fn trigger_body(f: &Fixture, runbook: &Value, name: &str) -> Value {
    json!({
        "Name": name, "ProjectId": f.project_id, "SpaceId": "Spaces-1", "IsDisabled": false,
        "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"],
                   "EnvironmentIds": [f.production_id], "TenantIds": [], "TenantTags": []},
        "Filter": every_15_minutes(),
    })
}

fn post(f: &Fixture, key: &str, body: Value) -> (u16, Value) {
    request(f, "POST", "/api/Spaces-1/projecttriggers", key, Some(body))
}

fn error_text(body: &Value) -> String {
    format!("{} {}", body["ErrorMessage"], body["Errors"])
}

/// A runbook with a published snapshot.
fn published(f: &Fixture, key: &str, name: &str) -> Value {
    let (runbook, _) = make_runbook(f, key, name);
    snapshot(f, key, &runbook, true);
    runbook
}

#[test]
fn a_published_runbook_gets_a_trigger_listed_by_runbook() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let runbook = published(&f, &key, "Sweep");
    let other = published(&f, &key, "Other");
    let (status, trigger) = post(
        &f,
        &key,
        trigger_body(&f, &runbook, "Sweep every 15 minutes"),
    );
    assert_eq!(status, 201, "{trigger}");
    let id = trigger["Id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ProjectTriggers-"), "{id}");
    assert_eq!(trigger["Filter"], every_15_minutes());
    assert_eq!(trigger["Action"]["RunbookId"], runbook["Id"]);
    post(&f, &key, trigger_body(&f, &other, "Other nightly"));
    let (status, page) = request(
        &f,
        "GET",
        &format!(
            "/api/Spaces-1/projecttriggers?runbooks={}",
            runbook["Id"].as_str().unwrap()
        ),
        &key,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(page["ItemType"], "ProjectTrigger");
    assert_eq!(page["TotalResults"], 1);
    assert_eq!(page["Items"][0]["Id"], id.as_str());
    let (_, all) = request(
        &f,
        "GET",
        "/api/spaces/Spaces-1/projecttriggers",
        &key,
        None,
    );
    assert_eq!(all["TotalResults"], 2);
    let (status, one) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/projecttriggers/{id}"),
        &key,
        None,
    );
    assert_eq!((status, &one), (200, &trigger));
    let created = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.related_document_ids.first() == Some(&id))
        .unwrap();
    assert_eq!(created.category, "Created");
    assert_eq!(
        created.message,
        "Trigger Sweep every 15 minutes was created"
    );
    assert_eq!(created.username, "admin");
    assert_eq!(f.sim.project_triggers().len(), 2);
}

#[test]
fn only_a_published_runbook_can_have_a_scheduled_trigger() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let (draft, _) = make_runbook(&f, &key, "Sweep");
    snapshot(&f, &key, &draft, false);
    let (status, refused) = post(&f, &key, trigger_body(&f, &draft, "Sweep"));
    assert_eq!(status, 400);
    assert!(
        error_text(&refused)
            .contains("Only published snapshots can be used to create a scheduled runbook trigger"),
        "{refused}"
    );
    assert!(f.sim.project_triggers().is_empty());
}

#[test]
fn the_filter_and_action_are_checked_as_octopus_checks_them() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let runbook = published(&f, &key, "Sweep");
    let elsewhere = f.sim.add_project("Spaces-1", "Ops");
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut misspelt = trigger_body(&f, &runbook, "t");
    let filter = misspelt["Filter"].as_object_mut().unwrap();
    filter.remove("Timezone");
    filter.insert("TimeZone".into(), json!("UTC"));
    cases.push((misspelt, "Timezone is required"));
    let mut over = trigger_body(&f, &runbook, "t");
    over["Filter"]["Interval"] = json!("OverMinutes");
    cases.push((over, "Interval must be one of"));
    let mut no_minutes = trigger_body(&f, &runbook, "t");
    no_minutes["Filter"]
        .as_object_mut()
        .unwrap()
        .remove("MinuteInterval");
    cases.push((no_minutes, "MinuteInterval"));
    let mut no_days = trigger_body(&f, &runbook, "t");
    no_days["Filter"]["DaysOfWeek"] = json!([]);
    cases.push((no_days, "DaysOfWeek"));
    let mut cron = trigger_body(&f, &runbook, "t");
    cron["Filter"] = json!({"FilterType": "CronExpressionSchedule", "CronExpression": "*/15 * * * *", "Timezone": "UTC"});
    cases.push((cron, "needs 6"));
    let mut nowhere = trigger_body(&f, &runbook, "t");
    nowhere["Action"]["EnvironmentIds"] = json!([]);
    cases.push((nowhere, "at least one environment"));
    let mut tenant = trigger_body(&f, &runbook, "t");
    tenant["Action"]["TenantIds"] = json!(["Tenants-7"]);
    cases.push((tenant, "Tenants-7"));
    let mut other_project = trigger_body(&f, &runbook, "t");
    other_project["ProjectId"] = json!(elsewhere);
    cases.push((other_project, "does not exist in project"));
    let mut deploy = trigger_body(&f, &runbook, "t");
    deploy["Action"]["ActionType"] = json!("DeployLatestRelease");
    cases.push((deploy, "RunRunbook"));
    for (body, says) in cases {
        let (status, refused) = post(&f, &key, body.clone());
        assert_eq!(status, 400, "{says}: {body}");
        assert!(error_text(&refused).contains(says), "{says}: {refused}");
    }
    // A cron schedule in a Windows time zone is fine, and names are unique per project.
    let mut nightly = trigger_body(&f, &runbook, "Nightly");
    nightly["Filter"] = json!({"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 2 * * *",
                               "Timezone": "AUS Eastern Standard Time"});
    assert_eq!(post(&f, &key, nightly.clone()).0, 201);
    let (status, refused) = post(&f, &key, nightly);
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("already exists"));
    assert_eq!(f.sim.project_triggers().len(), 1);
    let (status, refused) = post(&f, &f.broker_key, trigger_body(&f, &runbook, "x"));
    assert_eq!(status, 403);
    assert!(error_text(&refused).contains("Missing permission: TriggerCreate"));
}

#[test]
fn a_trigger_is_replaced_whole_and_deleted_before_its_runbook() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let runbook = published(&f, &key, "Sweep");
    let (_, trigger) = post(&f, &key, trigger_body(&f, &runbook, "Sweep"));
    let path = format!(
        "/api/Spaces-1/projecttriggers/{}",
        trigger["Id"].as_str().unwrap()
    );
    let mut changed = trigger_body(&f, &runbook, "Sweep hourly");
    changed["IsDisabled"] = json!(true);
    changed["Filter"] = json!({"FilterType": "ContinuousDailySchedule", "Timezone": "UTC", "Interval": "OnceHourly",
                               "HourInterval": 1, "DaysOfWeek": ["Monday"]});
    let (status, replaced) = request(&f, "PUT", &path, &key, Some(changed));
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["Id"], trigger["Id"]);
    assert_eq!(replaced["IsDisabled"], true);
    assert_eq!(replaced["Filter"]["Interval"], "OnceHourly");
    assert!(
        replaced["Filter"].get("MinuteInterval").is_none(),
        "replaced whole"
    );
    // The runbook cannot go while the trigger runs it.
    let runbook_path = format!("/api/Spaces-1/runbooks/{}", runbook["Id"].as_str().unwrap());
    let (status, refused) = request(&f, "DELETE", &runbook_path, &key, None);
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("'Sweep hourly'"), "{refused}");
    // Unpublished by a PUT that leaves the snapshot out, the runbook can no longer be
    // given to the trigger.
    let mut unpublished = runbook.clone();
    unpublished
        .as_object_mut()
        .unwrap()
        .remove("PublishedRunbookSnapshotId");
    assert_eq!(
        request(&f, "PUT", &runbook_path, &key, Some(unpublished)).0,
        200
    );
    let (status, refused) = request(
        &f,
        "PUT",
        &path,
        &key,
        Some(trigger_body(&f, &runbook, "Sweep")),
    );
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("Only published snapshots"));
    let (status, body) = request(&f, "DELETE", &path, &f.broker_key, None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(&f, "DELETE", &path, &key, None);
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(request(&f, "GET", &path, &key, None).0, 404);
    assert_eq!(request(&f, "DELETE", &runbook_path, &key, None).0, 200);
    let categories: Vec<String> = f
        .sim
        .audit()
        .into_iter()
        .filter(|e| e.message.starts_with("Trigger "))
        .map(|e| e.category)
        .collect();
    assert_eq!(categories, ["Created", "Modified", "Deleted"]);
}
