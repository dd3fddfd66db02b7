//! Who started the run, for the purpose: the `CreatedBy` variables the step maps, else the
//! runbook run record and its user. A run Octopus started itself is a trigger run; a
//! service account is named as one.

use anyhow::Result;

use crate::console::Console;
use crate::octopus::{Client, status_of};
use crate::purpose::{self, Operator, Starter};
use crate::settings::{Mint, OperatorSource};

/// Who started the run: the `CreatedBy` variables, else the runbook run record. A run
/// Octopus started itself (its system user, or a record naming nobody) is a trigger run;
/// `None` only for an unattributed run that `--allow-unattributed` permits.
pub fn find_starter(
    settings: &Mint,
    client: &Client,
    console: &Console,
) -> Result<Option<Starter>> {
    let trigger = || {
        Some(Starter::Trigger {
            name: settings.trigger.clone(),
        })
    };
    let (space, run_id) = match &settings.operator {
        OperatorSource::Variables(operator) => return Ok(Some(Starter::Person(operator.clone()))),
        OperatorSource::Trigger => return Ok(trigger()),
        OperatorSource::Unknown => return Ok(None),
        OperatorSource::RunbookRun { space_id, run_id } => (space_id, run_id),
    };
    let run = match client.runbook_run(space, run_id) {
        Ok(run) => run,
        // --allow-unattributed means it: a record the broker may not read, or that does
        // not exist, leaves the key unattributed, with one warning that says why.
        Err(e) if settings.allow_unattributed && matches!(status_of(&e), Some(403 | 404)) => {
            console.warn(&format!(
                "runbook run {run_id} could not be read ({e:#}), so the key is unattributed: give the broker's team RunbookRunView, or map the Octopus.Deployment.CreatedBy variables"
            ));
            return Ok(None);
        }
        Err(e) => {
            return Err(e.context(format!(
                "looking up who started runbook run {run_id}, as OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME is empty"
            )));
        }
    };
    let id = run.deployed_by_id.filter(|id| !id.trim().is_empty());
    let username = run.deployed_by.filter(|u| !u.trim().is_empty());
    // Octopus's system user has no user record (404): never look it up.
    if id.as_deref().is_some_and(purpose::is_system_user) || (id.is_none() && username.is_none()) {
        return Ok(trigger());
    }
    let Some(id) = id else {
        let username = username.unwrap_or_default();
        return Ok(Some(Starter::Person(Operator {
            display_name: username.clone(),
            username,
            id: None,
        })));
    };
    match client.user(&id) {
        Ok(user) => {
            let username = username
                .or(user.username.clone())
                .unwrap_or_else(|| id.clone());
            let operator = Operator {
                display_name: user
                    .display_name
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| username.clone()),
                username,
                id: Some(id),
            };
            Ok(Some(if user.is_service == Some(true) {
                Starter::ServiceAccount(operator)
            } else {
                Starter::Person(operator)
            }))
        }
        // Reading other users needs UserView; the username still names the operator.
        Err(e) if status_of(&e) == Some(403) => {
            let username = username.unwrap_or_else(|| id.clone());
            Ok(Some(Starter::Person(Operator {
                display_name: username.clone(),
                username,
                id: Some(id),
            })))
        }
        Err(e) => Err(e.context(format!("looking up the operator {id}"))),
    }
}
