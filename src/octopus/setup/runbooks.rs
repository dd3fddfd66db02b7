//! What the sweep's scheduled runbook is made of: a space's projects, project groups,
//! environments and tenants (by name), the runbook, its process, the published snapshot a
//! scheduled trigger runs, and the trigger.

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::octopus::client::Client;
use crate::octopus::client::PAGE_SIZE;
use crate::octopus::transport::Method;
use crate::octopus::url::encode;

/// A project, project group, environment or tenant: what a scope or a runbook names.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl Client {
    /// `GET /api/{space}/{collection}/all`: `projects`, `projectgroups`, `environments` or
    /// `tenants`.
    pub fn all_named(&self, space: &str, collection: &str) -> Result<Vec<Named>> {
        self.get(&format!("/api/{}/{collection}/all", encode(space)))
    }

    /// `GET /api/{space}/runbooks?partialName=&projectIds=`, every page: in one project, or
    /// in all of the space's.
    pub fn runbooks(&self, space: &str, project: Option<&str>, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/runbooks");
        let project = project
            .map(|p| format!("&projectIds={}", encode(p)))
            .unwrap_or_default();
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/runbooks?partialName={}{project}&skip={skip}&take={PAGE_SIZE}",
                encode(space),
                encode(name),
            )
        })
    }

    /// `POST /api/{space}/runbooks`.
    pub fn create_runbook(&self, space: &str, runbook: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/runbooks", encode(space)),
            runbook,
        )
    }

    /// `GET /api/{space}/runbooks/{id}`.
    pub fn runbook(&self, space: &str, id: &str) -> Result<Value> {
        self.get(&format!("/api/{}/runbooks/{}", encode(space), encode(id)))
    }

    /// `DELETE /api/{space}/runbooks/{id}`.
    pub fn delete_runbook(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!("/api/{}/runbooks/{}", encode(space), encode(id)))
    }

    /// `GET /api/{space}/runbookProcesses/{id}`.
    pub fn runbook_process(&self, space: &str, id: &str) -> Result<Value> {
        self.get(&format!(
            "/api/{}/runbookProcesses/{}",
            encode(space),
            encode(id)
        ))
    }

    /// `PUT /api/{space}/runbookProcesses/{id}`: the whole process, with the `Version` read.
    pub fn update_runbook_process(&self, space: &str, id: &str, process: &Value) -> Result<Value> {
        self.send(
            Method::Put,
            &format!("/api/{}/runbookProcesses/{}", encode(space), encode(id)),
            process,
        )
    }

    /// `GET /api/{space}/runbookProcesses/{id}/runbookSnapshotTemplate`.
    pub fn snapshot_template(&self, space: &str, process: &str) -> Result<Value> {
        self.get(&format!(
            "/api/{}/runbookProcesses/{}/runbookSnapshotTemplate",
            encode(space),
            encode(process)
        ))
    }

    /// `POST /api/{space}/runbookSnapshots?publish=true`: a snapshot of the process as it is
    /// now, published (scheduled triggers run only the published snapshot).
    pub fn publish_snapshot(&self, space: &str, snapshot: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/runbookSnapshots?publish=true", encode(space)),
            snapshot,
        )
    }

    /// `GET /api/{space}/projecttriggers?runbooks=`, every page.
    pub fn runbook_triggers(&self, space: &str, runbook: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/projecttriggers");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/projecttriggers?runbooks={}&skip={skip}&take={PAGE_SIZE}",
                encode(space),
                encode(runbook)
            )
        })
    }

    /// `POST /api/{space}/projecttriggers`.
    pub fn create_trigger(&self, space: &str, trigger: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/projecttriggers", encode(space)),
            trigger,
        )
    }

    /// `PUT /api/{space}/projecttriggers/{id}`.
    pub fn update_trigger(&self, space: &str, id: &str, trigger: &Value) -> Result<Value> {
        self.send(
            Method::Put,
            &format!("/api/{}/projecttriggers/{}", encode(space), encode(id)),
            trigger,
        )
    }

    /// `DELETE /api/{space}/projecttriggers/{id}`.
    pub fn delete_trigger(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!(
            "/api/{}/projecttriggers/{}",
            encode(space),
            encode(id)
        ))
    }
}
