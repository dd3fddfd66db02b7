//! Runbook runs, read for `DeployedBy`/`DeployedById`: who started the run. Needs
//! `RunbookRunView`.

use crate::auth::Actor;
use crate::http::Response;
use crate::render::{forbidden, not_found, runbook_run_json};
use crate::state::State;

pub(crate) fn one(state: &State, actor: &Actor, space: &str, run_id: &str) -> Response {
    if !actor.user.has_permission("RunbookRunView") {
        return forbidden("RunbookRunView");
    }
    let Some(run) = state
        .runs
        .iter()
        .find(|r| r.id == run_id && r.space_id == space)
    else {
        return not_found(run_id);
    };
    Response::json(200, &runbook_run_json(state, run))
}
