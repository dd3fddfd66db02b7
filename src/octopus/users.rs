//! Users and runbook runs: who a credential belongs to, and who started a run.

use anyhow::Result;

use super::client::Client;
use super::url::encode;
use super::wire::{RunbookRun, User};

impl Client {
    /// `GET /api/users/me`: the user the credential belongs to.
    pub fn me(&self) -> Result<User> {
        self.get("/api/users/me")
    }

    /// `GET /api/users/{id}`.
    pub fn user(&self, id: &str) -> Result<User> {
        self.get(&format!("/api/users/{}", encode(id)))
    }

    /// `GET /api/{space}/runbookRuns/{id}`: who started the run.
    pub fn runbook_run(&self, space_id: &str, run_id: &str) -> Result<RunbookRun> {
        self.get(&format!(
            "/api/{}/runbookRuns/{}",
            encode(space_id),
            encode(run_id)
        ))
    }
}
