//! Runbooks, their processes and snapshots: a runbook needs a retention policy and comes
//! with an empty process and no published snapshot; PUT replaces a runbook whole; a process
//! is saved only from the `Version` read and each save bumps it; the snapshot template
//! names the packages of the process; a snapshot freezes the process, and `publish=true`
//! makes it the runbook's published one; deleting a runbook takes its process and
//! snapshots. Each change needs RunbookEdit and is audited.

use octopus_sim::Fixture;
use serde_json::{Value, json};

use crate::support::{admin_key, request};

pub fn runbook_body(f: &Fixture, name: &str) -> Value {
    json!({
        "Name": name, "ProjectId": f.project_id, "Description": "Cleans up",
        "MultiTenancyMode": "Untenanted", "EnvironmentScope": "Specified",
        "Environments": [f.production_id], "DefaultGuidedFailureMode": "EnvironmentDefault",
        "RunRetentionPolicy": {"Strategy": "Default", "QuantityToKeep": 100, "Unit": "Items", "ShouldKeepForever": false},
    })
}

/// A runbook made over the API: (runbook, its process id).
pub fn make_runbook(f: &Fixture, key: &str, name: &str) -> (Value, String) {
    let (status, runbook) = request(
        f,
        "POST",
        "/api/Spaces-1/runbooks",
        key,
        Some(runbook_body(f, name)),
    );
    assert_eq!(status, 201, "{runbook}");
    let process = runbook["RunbookProcessId"].as_str().unwrap().to_string();
    (runbook, process)
}

fn error_text(body: &Value) -> String {
    format!("{} {}", body["ErrorMessage"], body["Errors"])
}

fn get(f: &Fixture, key: &str, path: &str) -> Value {
    let (status, body) = request(f, "GET", path, key, None);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A step made from step template `template_id` (version `version`), with a package
/// parameter naming `octopus-runkey` in the built-in feed.
pub fn template_step(name: &str, template_id: &str, version: &str) -> Value {
    json!({
        "Name": name,
        "Actions": [{
            "Name": name,
            "ActionType": "Octopus.Script",
            "Properties": {
                "Octopus.Action.Script.ScriptSource": "Inline",
                "Octopus.Action.Script.Syntax": "Bash",
                "Octopus.Action.Script.ScriptBody": "octopus-runkey revoke --sweep",
                "Octopus.Action.RunOnServer": "true",
                "Runkey.Package": "{\"PackageId\":\"octopus-runkey\",\"FeedId\":\"feeds-builtin\"}",
                "Octopus.Action.Template.Id": template_id,
                "Octopus.Action.Template.Version": version,
            },
            "Packages": [{"Name": "runkey", "PackageId": null, "FeedId": null, "AcquisitionLocation": "Server",
                          "Properties": {"Extract": "True", "SelectionMode": "deferred", "PackageParameterName": "Runkey.Package"}}],
        }],
    })
}

/// A step template in the default space, seeded.
pub fn seeded_template(f: &Fixture, name: &str) -> String {
    f.sim.add_action_template(
        "Spaces-1",
        json!({"Name": name, "ActionType": "Octopus.Script", "Properties": {}, "Parameters": [], "Packages": []}),
    )
}

/// Saves `steps` into `process` from the version it has now: the new process.
pub fn save_steps(f: &Fixture, key: &str, process: &str, steps: Value) -> Value {
    let path = format!("/api/Spaces-1/runbookProcesses/{process}");
    let mut current = get(f, key, &path);
    current["Steps"] = steps;
    let (status, saved) = request(f, "PUT", &path, key, Some(current));
    assert_eq!(status, 200, "{saved}");
    saved
}

/// Snapshots the runbook with the version of every package its template asks for,
/// published or not: the snapshot.
pub fn snapshot(f: &Fixture, key: &str, runbook: &Value, publish: bool) -> Value {
    let process = runbook["RunbookProcessId"].as_str().unwrap();
    let template = get(
        f,
        key,
        &format!("/api/Spaces-1/runbookProcesses/{process}/runbookSnapshotTemplate"),
    );
    let selected: Vec<Value> = template["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"ActionName": p["ActionName"], "PackageReferenceName": p["PackageReferenceName"], "Version": "1.2.0"}))
        .collect();
    let (status, made) = request(
        f,
        "POST",
        &format!("/api/Spaces-1/runbookSnapshots?publish={publish}"),
        key,
        Some(
            json!({"ProjectId": runbook["ProjectId"], "RunbookId": runbook["Id"],
                    "Name": template["NextNameIncrement"], "Notes": null, "SelectedPackages": selected}),
        ),
    );
    assert_eq!(status, 201, "{made}");
    made
}

#[test]
fn a_runbook_comes_with_an_empty_process_and_no_published_snapshot() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let (runbook, process_id) = make_runbook(&f, &key, "Clean up");
    assert_eq!(runbook["Id"], "Runbooks-1");
    assert_eq!(process_id, "RunbookProcess-Runbooks-1");
    assert_eq!(runbook["PublishedRunbookSnapshotId"], Value::Null);
    assert_eq!(runbook["SpaceId"], "Spaces-1");
    assert_eq!(runbook["Environments"], json!([f.production_id]));
    let process = get(
        &f,
        &key,
        &format!("/api/spaces/Spaces-1/runbookProcesses/{process_id}"),
    );
    assert_eq!(process["Id"], process_id.as_str());
    assert_eq!(process["RunbookId"], "Runbooks-1");
    assert_eq!(process["ProjectId"], f.project_id.as_str());
    assert_eq!(process["SpaceId"], "Spaces-1");
    assert_eq!(process["Version"], 0);
    assert_eq!(process["Steps"], json!([]));
    assert_eq!(get(&f, &key, "/api/Spaces-1/runbooks/Runbooks-1"), runbook);
    let created = f.sim.audit().into_iter().last().unwrap();
    assert_eq!(created.category, "Created");
    assert_eq!(created.message, "Runbook Clean up was created");
    assert_eq!(created.related_document_ids, ["Runbooks-1", "Projects-1"]);
    assert_eq!(created.user_id, f.admin_id);
    // Seeded the same way.
    let seeded = f.sim.add_runbook("Spaces-1", &f.project_id, "Restart web");
    assert_eq!(seeded, "Runbooks-2");
    let seeded_process = f.sim.runbook_process("RunbookProcess-Runbooks-2").unwrap();
    assert_eq!(seeded_process["Version"], 0);
    assert_eq!(
        f.sim.runbooks()[1]["PublishedRunbookSnapshotId"],
        Value::Null
    );
}

#[test]
fn a_runbook_is_refused_without_what_octopus_requires() {
    let f = Fixture::new();
    let key = admin_key(&f);
    make_runbook(&f, &key, "Clean up");
    let post = |body: Value| request(&f, "POST", "/api/Spaces-1/runbooks", &key, Some(body));
    let without = |field: &str| {
        let mut body = runbook_body(&f, "Other");
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let mut cases = vec![
        (without("RunRetentionPolicy"), "RunRetentionPolicy"),
        (without("Name"), "needs a Name"),
        (without("ProjectId"), "project"),
        (
            runbook_body(&f, "clean UP"),
            "already exists in this project",
        ),
    ];
    let mut specified = runbook_body(&f, "Other");
    specified["Environments"] = json!([]);
    cases.push((specified, "at least one"));
    let mut unknown = runbook_body(&f, "Other");
    unknown["Environments"] = json!(["Environments-42"]);
    cases.push((unknown, "Environments-42"));
    for (body, says) in cases {
        let (status, refused) = post(body.clone());
        assert_eq!(status, 400, "{body}");
        assert!(error_text(&refused).contains(says), "{says}: {refused}");
    }
    // The broker may not make runbooks.
    let (status, refused) = request(
        &f,
        "POST",
        "/api/Spaces-1/runbooks",
        &f.broker_key,
        Some(runbook_body(&f, "Other")),
    );
    assert_eq!(status, 403);
    assert!(error_text(&refused).contains("Missing permission: RunbookEdit"));
    assert_eq!(f.sim.runbooks().len(), 1);
}

#[test]
fn runbooks_are_listed_by_partial_name_and_project() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let other = f.sim.add_project("Spaces-1", "Ops");
    make_runbook(&f, &key, "Clean up");
    make_runbook(&f, &key, "Restart web");
    f.sim.add_runbook("Spaces-1", &other, "Clean up logs");
    let page = get(&f, &key, "/api/Spaces-1/runbooks?partialName=clean");
    assert_eq!(page["ItemType"], "Runbook");
    let names: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Clean up", "Clean up logs"]);
    let page = get(
        &f,
        &key,
        &format!("/api/Spaces-1/runbooks?partialName=clean&projectIds={other}"),
    );
    assert_eq!(page["TotalResults"], 1);
    assert_eq!(page["Items"][0]["ProjectId"], other.as_str());
    let page = get(&f, &key, "/api/Spaces-1/runbooks?take=2");
    assert_eq!(page["TotalResults"], 3);
    assert!(page["Links"]["Page.Next"].is_string());
    // The broker, without RunbookView, may not read them.
    let (status, _) = request(&f, "GET", "/api/Spaces-1/runbooks", &f.broker_key, None);
    assert_eq!(status, 403);
}

#[test]
fn put_replaces_a_runbook_whole_and_a_field_left_out_is_reset() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let (runbook, _) = make_runbook(&f, &key, "Clean up");
    let published = snapshot(&f, &key, &runbook, true);
    let path = "/api/Spaces-1/runbooks/Runbooks-1";
    let current = get(&f, &key, path);
    assert_eq!(current["PublishedRunbookSnapshotId"], published["Id"]);
    // Sent back as read: kept, published still.
    let (status, same) = request(&f, "PUT", path, &key, Some(current.clone()));
    assert_eq!(status, 200);
    assert_eq!(same["PublishedRunbookSnapshotId"], published["Id"]);
    // Only what a create needs: the description and the publication are gone.
    let (status, replaced) = request(
        &f,
        "PUT",
        path,
        &key,
        Some(json!({"Name": "Clean up all", "ProjectId": f.project_id,
                    "RunRetentionPolicy": {"Strategy": "Default", "QuantityToKeep": 5, "Unit": "Items"}})),
    );
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["Description"], "");
    assert_eq!(replaced["EnvironmentScope"], "All");
    assert_eq!(replaced["PublishedRunbookSnapshotId"], Value::Null);
    assert_eq!(replaced["RunbookProcessId"], runbook["RunbookProcessId"]);
    assert_eq!(replaced["Id"], "Runbooks-1");
    let mut moved = current.clone();
    moved["ProjectId"] = json!(f.sim.add_project("Spaces-1", "Ops"));
    let (status, refused) = request(&f, "PUT", path, &key, Some(moved));
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("cannot be changed"));
    let mut foreign = current;
    foreign["PublishedRunbookSnapshotId"] = json!("RunbookSnapshots-99");
    assert_eq!(request(&f, "PUT", path, &key, Some(foreign)).0, 400);
    let modified: Vec<_> = f
        .sim
        .audit()
        .into_iter()
        .filter(|e| e.category == "Modified" && e.message.starts_with("Runbook Clean up"))
        .collect();
    assert_eq!(modified.len(), 2, "the two saves that succeeded");
}

#[test]
fn a_process_is_saved_only_from_the_version_read_and_each_save_bumps_it() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let template = seeded_template(&f, "Octopus Run Key - Sweep");
    let (_, process_id) = make_runbook(&f, &key, "Clean up");
    let path = format!("/api/Spaces-1/runbookProcesses/{process_id}");
    let read = get(&f, &key, &path);
    let mut sent = read.clone();
    sent["Steps"] = json!([template_step("Sweep", &template, "0")]);
    let (status, saved) = request(&f, "PUT", &path, &key, Some(sent.clone()));
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["Version"], 1);
    let step = &saved["Steps"][0];
    let action = &step["Actions"][0];
    assert_eq!(step["Id"].as_str().unwrap().len(), 36, "a GUID: {step}");
    assert_eq!(action["Id"].as_str().unwrap().len(), 36);
    assert_eq!(step["Condition"], "Success");
    assert_eq!(action["Properties"]["Octopus.Action.Template.Version"], "0");
    // The same body again holds the old version now.
    let (status, refused) = request(&f, "PUT", &path, &key, Some(sent));
    assert_eq!(status, 400);
    assert!(
        error_text(&refused).contains(
            "Changes to this process could not be saved, because another user has made changes"
        ),
        "{refused}"
    );
    // Saving what was read back bumps the version even though nothing changed.
    let (status, again) = request(&f, "PUT", &path, &key, Some(saved.clone()));
    assert_eq!(status, 200);
    assert_eq!(again["Version"], 2);
    assert_eq!(again["Steps"], saved["Steps"], "ids kept");
    // Another user's save makes what this client holds stale.
    f.sim
        .edit_runbook_process(&process_id, |p| p["Steps"][0]["Name"] = json!("Sweep it"));
    let (status, _) = request(&f, "PUT", &path, &key, Some(again));
    assert_eq!(status, 400);
    assert_eq!(get(&f, &key, &path)["Version"], 3);
    let modified = f
        .sim
        .audit()
        .into_iter()
        .filter(|e| e.category == "Modified")
        .count();
    assert_eq!(modified, 2, "one event for each save that succeeded");
}

#[test]
fn a_process_is_refused_what_octopus_refuses() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let template = seeded_template(&f, "Sweep");
    let (_, process_id) = make_runbook(&f, &key, "Clean up");
    let path = format!("/api/Spaces-1/runbookProcesses/{process_id}");
    let always = {
        let mut step = template_step("Sweep", &template, "0");
        step["Condition"] = json!("Always");
        step
    };
    let mut unnamed = template_step("Sweep", &template, "0");
    unnamed["Actions"][0]["Name"] = json!("");
    let mut numeric_version = template_step("Sweep", &template, "0");
    numeric_version["Actions"][0]["Properties"]["Octopus.Action.Template.Version"] = json!(0);
    for (steps, says) in [
        (json!([always]), "first step"),
        (
            json!([template_step("Sweep", "ActionTemplates-404", "0")]),
            "does not exist",
        ),
        (
            json!([
                template_step("Sweep", &template, "0"),
                template_step("Sweep", &template, "0")
            ]),
            "unique",
        ),
        (json!([unnamed]), "needs a Name and an ActionType"),
        (json!([numeric_version]), "as text"),
        (
            json!([{"Name": "Empty", "Actions": []}]),
            "at least one action",
        ),
    ] {
        let mut body = get(&f, &key, &path);
        body["Steps"] = steps;
        let (status, refused) = request(&f, "PUT", &path, &key, Some(body));
        assert_eq!(status, 400, "{says}");
        assert!(error_text(&refused).contains(says), "{says}: {refused}");
    }
    assert_eq!(get(&f, &key, &path)["Version"], 0, "nothing was saved");
    let mut body = get(&f, &key, &path);
    body["Steps"] = json!([]);
    let (status, refused) = request(&f, "PUT", &path, &f.broker_key, Some(body));
    assert_eq!(status, 403);
    assert!(error_text(&refused).contains("Missing permission: RunbookEdit"));
}

#[test]
fn a_published_snapshot_freezes_the_process_as_it_was() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let template = seeded_template(&f, "Sweep");
    let (runbook, process_id) = make_runbook(&f, &key, "Clean up");
    save_steps(
        &f,
        &key,
        &process_id,
        json!([template_step("Sweep", &template, "0")]),
    );
    let path = format!("/api/Spaces-1/runbookProcesses/{process_id}/runbookSnapshotTemplate");
    let template_page = get(&f, &key, &path);
    assert_eq!(template_page["NextNameIncrement"], "Snapshot 1");
    assert_eq!(
        template_page["Packages"],
        json!([{"ActionName": "Sweep", "StepName": "Sweep", "PackageReferenceName": "runkey",
                "PackageId": "octopus-runkey", "FeedId": "feeds-builtin", "IsResolvable": true,
                "ProjectName": "Web", "VersionSelectedLastRelease": null}])
    );
    // A snapshot must pick a version of every package.
    let (status, refused) = request(
        &f,
        "POST",
        "/api/Spaces-1/runbookSnapshots?publish=true",
        &key,
        Some(
            json!({"ProjectId": f.project_id, "RunbookId": runbook["Id"], "Name": "Snapshot 1",
                    "SelectedPackages": []}),
        ),
    );
    assert_eq!(status, 400);
    assert!(error_text(&refused).contains("octopus-runkey"), "{refused}");
    // Unpublished: the runbook has no published snapshot yet.
    let draft = snapshot(&f, &key, &runbook, false);
    assert_eq!(draft["Name"], "Snapshot 1");
    let current = get(&f, &key, "/api/Spaces-1/runbooks/Runbooks-1");
    assert_eq!(current["PublishedRunbookSnapshotId"], Value::Null);
    let published = snapshot(&f, &key, &runbook, true);
    assert_eq!(published["Name"], "Snapshot 2");
    let current = get(&f, &key, "/api/Spaces-1/runbooks/Runbooks-1");
    assert_eq!(current["PublishedRunbookSnapshotId"], published["Id"]);
    assert_eq!(
        get(
            &f,
            &key,
            &format!(
                "/api/Spaces-1/runbookSnapshots/{}",
                published["Id"].as_str().unwrap()
            )
        ),
        published
    );
    // A later edit is a draft: the snapshot's process is as it was.
    save_steps(
        &f,
        &key,
        &process_id,
        json!([template_step("Sweep harder", &template, "0")]),
    );
    let frozen_id = published["FrozenRunbookProcessId"].as_str().unwrap();
    let frozen = get(
        &f,
        &key,
        &format!("/api/Spaces-1/runbookProcesses/{frozen_id}"),
    );
    assert_eq!(frozen["Steps"][0]["Name"], "Sweep");
    assert_eq!(frozen["RunbookId"], runbook["Id"]);
    assert_eq!(
        f.sim.runbook_process(&process_id).unwrap()["Steps"][0]["Name"],
        "Sweep harder"
    );
    let mut edit = frozen.clone();
    edit["Steps"] = json!([]);
    let (status, refused) = request(
        &f,
        "PUT",
        &format!("/api/Spaces-1/runbookProcesses/{frozen_id}"),
        &key,
        Some(edit),
    );
    assert_eq!(status, 400, "{refused}");
    let event = f
        .sim
        .audit()
        .into_iter()
        .find(|e| {
            e.related_document_ids.first() == published["Id"].as_str().map(str::to_string).as_ref()
        })
        .unwrap();
    assert_eq!(event.category, "Created");
    assert_eq!(
        event.message,
        "Runbook snapshot Snapshot 2 was created for runbook Clean up and published"
    );
    assert_eq!(f.sim.runbook_snapshots().len(), 2);
}

#[test]
fn deleting_a_runbook_takes_its_process_and_snapshots() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let (runbook, process_id) = make_runbook(&f, &key, "Clean up");
    let published = snapshot(&f, &key, &runbook, true);
    let (status, refused) = request(
        &f,
        "DELETE",
        "/api/Spaces-1/runbooks/Runbooks-1",
        &f.broker_key,
        None,
    );
    assert_eq!(status, 403, "{refused}");
    let (status, body) = request(
        &f,
        "DELETE",
        "/api/Spaces-1/runbooks/Runbooks-1",
        &key,
        None,
    );
    assert_eq!((status, body), (200, json!({})));
    assert!(f.sim.runbooks().is_empty());
    assert!(f.sim.runbook_process(&process_id).is_none());
    assert!(f.sim.runbook_snapshots().is_empty());
    let (status, _) = request(
        &f,
        "GET",
        &format!(
            "/api/Spaces-1/runbookSnapshots/{}",
            published["Id"].as_str().unwrap()
        ),
        &key,
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(
        request(
            &f,
            "DELETE",
            "/api/Spaces-1/runbooks/Runbooks-1",
            &key,
            None
        )
        .0,
        404
    );
    let deleted = f.sim.audit().into_iter().last().unwrap();
    assert_eq!(deleted.category, "Deleted");
    assert_eq!(deleted.message, "Runbook Clean up was deleted");
    // A new runbook gets a new number: Octopus never reuses one.
    let (again, _) = make_runbook(&f, &key, "Clean up");
    assert_eq!(again["Id"], "Runbooks-2");
}
