//! The runbooks of every space as the server keeps them, stored as the JSON resources
//! Octopus serves: runbooks, their processes (the live one a runbook edits, and the frozen
//! copies its snapshots keep), snapshots, and scheduled project triggers; and what reads
//! across them: the steps that use a step template or name an account, and the packages a
//! process references (what a snapshot must pick versions for).

use serde_json::{Map, Value, json};

use crate::ids::Numbering;

/// Fields of a runbook the server owns: what a client sends for them is ignored.
const SERVER_FIELDS: [&str; 4] = ["Id", "SpaceId", "RunbookProcessId", "Links"];

/// The property naming the step template an action was made from.
pub const TEMPLATE_ID: &str = "Octopus.Action.Template.Id";
/// The property holding the version of that template the action was made from.
pub const TEMPLATE_VERSION: &str = "Octopus.Action.Template.Version";

#[derive(Default)]
pub(crate) struct Runbooks {
    /// Runbooks as served (`Runbooks-N`, `RunbookProcessId`, `PublishedRunbookSnapshotId`).
    pub runbooks: Vec<Value>,
    /// The live processes (`RunbookProcess-Runbooks-N`, `Version`, `Steps`).
    pub processes: Vec<Value>,
    /// Processes as snapshots froze them (`RunbookProcess-Runbooks-N-s-M`), never edited.
    pub frozen: Vec<Value>,
    /// Snapshots as served (`RunbookSnapshots-N`, `FrozenRunbookProcessId`).
    pub snapshots: Vec<Value>,
    /// Project triggers as served (`ProjectTriggers-N`).
    pub triggers: Vec<Value>,
    pub ids: Numbering,
}

/// A step of a live process that an action of it makes a use of something, with the
/// runbook the process belongs to.
pub(crate) struct StepUse<'a> {
    pub runbook: &'a Value,
    pub process: &'a Value,
    pub step: &'a Value,
    pub action: &'a Value,
}

fn is(value: &Value, id: &str) -> bool {
    value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(id))
}

fn in_space(document: &Value, space_id: &str) -> bool {
    document["SpaceId"] == space_id
}

/// The actions of `process`, each with its step.
pub(crate) fn actions(process: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    process["Steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|step| {
            step["Actions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |action| (step, action))
        })
}

impl Runbooks {
    /// Stores a new runbook and the empty process the server makes with it.
    pub fn add(&mut self, runbook: Value) {
        let process_id = runbook["RunbookProcessId"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let space_id = runbook["SpaceId"].as_str().unwrap_or("").to_string();
        self.processes.push(json!({
            "Id": process_id,
            "RunbookId": runbook["Id"],
            "ProjectId": runbook["ProjectId"],
            "SpaceId": space_id,
            "Version": 0,
            "Steps": [],
            "LastSnapshotId": null,
            "Links": {
                "Self": format!("/api/{space_id}/runbookProcesses/{process_id}"),
                "RunbookSnapshotTemplate": format!("/api/{space_id}/runbookProcesses/{process_id}/runbookSnapshotTemplate"),
            },
        }));
        self.runbooks.push(runbook);
    }

    pub fn runbook(&self, space_id: &str, id: &str) -> Option<usize> {
        self.runbooks
            .iter()
            .position(|r| is(&r["Id"], id) && in_space(r, space_id))
    }

    /// The live process `id` of the space.
    pub fn process(&self, space_id: &str, id: &str) -> Option<usize> {
        self.processes
            .iter()
            .position(|p| is(&p["Id"], id) && in_space(p, space_id))
    }

    /// The process `id`, live or frozen in a snapshot.
    pub fn any_process(&self, space_id: &str, id: &str) -> Option<&Value> {
        self.processes
            .iter()
            .chain(&self.frozen)
            .find(|p| is(&p["Id"], id) && in_space(p, space_id))
    }

    pub fn snapshot(&self, space_id: &str, id: &str) -> Option<&Value> {
        self.snapshots
            .iter()
            .find(|s| is(&s["Id"], id) && in_space(s, space_id))
    }

    pub fn trigger(&self, space_id: &str, id: &str) -> Option<usize> {
        self.triggers
            .iter()
            .position(|t| is(&t["Id"], id) && in_space(t, space_id))
    }

    /// The triggers that run runbook `id`.
    pub fn triggers_of<'a>(&'a self, runbook_id: &'a str) -> impl Iterator<Item = &'a Value> {
        self.triggers
            .iter()
            .filter(move |t| is(&t["Action"]["RunbookId"], runbook_id))
    }

    /// Every step of a live process in `space_id` with an action `uses` says uses the thing
    /// sought, in the order the runbooks were made.
    pub fn steps_where<'a>(
        &'a self,
        space_id: &str,
        uses: impl Fn(&Value) -> bool,
    ) -> Vec<StepUse<'a>> {
        let mut found = Vec::new();
        for process in self.processes.iter().filter(|p| in_space(p, space_id)) {
            let Some(runbook) = self
                .runbooks
                .iter()
                .find(|r| r["Id"] == process["RunbookId"])
            else {
                continue;
            };
            for (step, action) in actions(process) {
                if uses(action) {
                    found.push(StepUse {
                        runbook,
                        process,
                        step,
                        action,
                    });
                }
            }
        }
        found
    }

    /// The snapshots of `space_id` whose frozen process has an action `uses` says uses the
    /// thing sought.
    pub fn snapshots_where(&self, space_id: &str, uses: impl Fn(&Value) -> bool) -> Vec<&Value> {
        self.snapshots
            .iter()
            .filter(|s| in_space(s, space_id))
            .filter(|s| {
                self.frozen
                    .iter()
                    .find(|p| p["Id"] == s["FrozenRunbookProcessId"])
                    .is_some_and(|p| actions(p).any(|(_, action)| uses(action)))
            })
            .collect()
    }
}

/// A runbook as the server keeps it: what a client sent (`body`), with the server's own
/// fields (`Id`, `SpaceId`, `RunbookProcessId`, `Links`, whatever was sent for them), and a
/// default for every field left out (`PublishedRunbookSnapshotId` null).
pub(crate) fn runbook_resource(
    body: &Map<String, Value>,
    id: &str,
    space_id: &str,
    name: &str,
    project: &str,
) -> Value {
    let mut runbook: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (field, default) in [
        ("Description", json!("")),
        ("MultiTenancyMode", json!("Untenanted")),
        ("EnvironmentScope", json!("All")),
        ("Environments", json!([])),
        ("DefaultGuidedFailureMode", json!("EnvironmentDefault")),
        (
            "RunRetentionPolicy",
            json!({"Strategy": "Default", "QuantityToKeep": 100, "Unit": "Items", "ShouldKeepForever": false}),
        ),
        (
            "ConnectivityPolicy",
            json!({"AllowDeploymentsToNoTargets": true, "ExcludeUnhealthyTargets": false, "SkipMachineBehavior": "None", "TargetRoles": []}),
        ),
        ("ForcePackageDownload", json!(false)),
        ("PublishedRunbookSnapshotId", Value::Null),
    ] {
        runbook.entry(field).or_insert(default);
    }
    let process_id = format!("RunbookProcess-{id}");
    runbook.insert("Id".into(), json!(id));
    runbook.insert("Name".into(), json!(name));
    runbook.insert("ProjectId".into(), json!(project));
    runbook.insert("SpaceId".into(), json!(space_id));
    runbook.insert("RunbookProcessId".into(), json!(process_id));
    runbook.insert(
        "Links".into(),
        json!({
            "Self": format!("/api/{space_id}/runbooks/{id}"),
            "RunbookProcesses": format!("/api/{space_id}/runbookProcesses/{process_id}"),
            "RunbookSnapshotTemplate": format!("/api/{space_id}/runbookProcesses/{process_id}/runbookSnapshotTemplate"),
        }),
    );
    Value::Object(runbook)
}

/// Whether `action` was made from step template `template_id`.
pub(crate) fn uses_template(action: &Value, template_id: &str) -> bool {
    is(&action["Properties"][TEMPLATE_ID], template_id)
}

/// Whether one of the property values of `action` is the id `account_id` (what an account
/// parameter, or a step's account field, holds).
pub(crate) fn names_account(action: &Value, account_id: &str) -> bool {
    action["Properties"]
        .as_object()
        .is_some_and(|properties| properties.values().any(|v| is(v, account_id)))
}

/// A package reference of an action, as a snapshot must pick a version for it: which
/// package of which feed, when the process says (the reference's own `PackageId` and
/// `FeedId`, or, for a step template's package parameter, the action's property named by
/// `PackageParameterName`, whose value is the JSON text `{"PackageId":..,"FeedId":..}`).
pub(crate) struct PackageReference {
    pub step_name: String,
    pub action_name: String,
    pub reference_name: String,
    pub package_id: Option<String>,
    pub feed_id: Option<String>,
}

impl PackageReference {
    /// Whether the package and feed are known before a run: neither missing nor a
    /// variable (`#{...}`) bound only when it runs.
    pub fn is_resolvable(&self) -> bool {
        let known = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.contains("#{"));
        known(&self.package_id) && known(&self.feed_id)
    }
}

/// The package references of the enabled actions of `process`.
pub(crate) fn package_references(process: &Value) -> Vec<PackageReference> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut found = Vec::new();
    for (step, action) in actions(process) {
        if action["IsDisabled"] == true {
            continue;
        }
        for package in action["Packages"].as_array().into_iter().flatten() {
            let mut package_id = text(&package["PackageId"]);
            let mut feed_id = text(&package["FeedId"]);
            if package_id.is_none()
                && let Some(parameter) = text(&package["Properties"]["PackageParameterName"])
                && let Some(Ok(Value::Object(chosen))) = action["Properties"][&parameter]
                    .as_str()
                    .map(serde_json::from_str::<Value>)
            {
                package_id = chosen.get("PackageId").and_then(text);
                feed_id = chosen.get("FeedId").and_then(text);
            }
            found.push(PackageReference {
                step_name: text(&step["Name"]).unwrap_or_default(),
                action_name: text(&action["Name"]).unwrap_or_default(),
                reference_name: package["Name"].as_str().unwrap_or("").to_string(),
                package_id,
                feed_id,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_package_parameter_names_the_package_through_the_action() {
        let process = json!({"Steps": [{"Name": "Sweep", "Actions": [{
            "Name": "Sweep",
            "Properties": {"Runkey.Package": "{\"PackageId\":\"octopus-runkey\",\"FeedId\":\"feeds-builtin\"}"},
            "Packages": [
                {"Name": "runkey", "PackageId": null, "FeedId": null,
                 "Properties": {"PackageParameterName": "Runkey.Package"}},
                {"Name": "tool", "PackageId": "jq", "FeedId": "#{Feed}", "Properties": {}},
            ],
        }, {
            "Name": "Off", "IsDisabled": true,
            "Packages": [{"Name": "x", "PackageId": "x", "FeedId": "feeds-builtin"}],
        }]}]});
        let found = package_references(&process);
        assert_eq!(
            found.len(),
            2,
            "a disabled action's packages are not asked for"
        );
        assert_eq!(found[0].package_id.as_deref(), Some("octopus-runkey"));
        assert_eq!(found[0].feed_id.as_deref(), Some("feeds-builtin"));
        assert!(found[0].is_resolvable());
        assert_eq!(found[1].reference_name, "tool");
        assert!(!found[1].is_resolvable(), "a feed bound at run time");
    }

    #[test]
    fn an_account_is_named_by_a_whole_property_value() {
        let action = json!({"Properties": {"A": "Accounts-10", "B": "Accounts-1 and more"}});
        assert!(names_account(&action, "accounts-10"));
        assert!(!names_account(&action, "Accounts-1"));
    }
}
