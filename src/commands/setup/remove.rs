//! `setup --remove --broker USERNAME`: the plan that takes away what setup made for that
//! broker, in an order Octopus accepts (a template in use and an account in use cannot be
//! deleted): the sweep's trigger and runbook, the step templates no other step uses, the
//! team's grants and the team, the broker's place on the team an earlier setup shared, its
//! OIDC identity for this space, and its OIDC account when nothing else uses it. The
//! service account stays (its name is who the audit log says made every change of its run
//! keys), and so does the package (a published snapshot may use it). What cannot go is said
//! in the step's detail and in the checklist.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::broker::{self, SHARED_TEAM, team_name};
use super::embedded::TEMPLATES;
use super::oidc::{IDENTITY, account_name};
use super::plan::{Apply, Known, Outcome, Plan, Step};
use super::sweep::{runbook_name, trigger_name};
use crate::octopus::Client;
use crate::octopus::setup::Space;
use crate::settings::Setup;

enum Write {
    Trigger(String),
    Runbook(String),
    Template(String),
    Grant(String),
    Team(String),
    LeaveSharedTeam(Value),
    Identity { broker: String, id: String },
    Account(String),
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, _: &mut Known) -> Result<()> {
        match self {
            Write::Trigger(id) => client.delete_trigger(&space.id, id),
            Write::Runbook(id) => client.delete_runbook(&space.id, id),
            Write::Template(id) => client.delete_action_template(&space.id, id),
            Write::Grant(id) => client.delete_grant(&space.id, id),
            Write::Team(id) => client.delete_team(&space.id, id),
            Write::LeaveSharedTeam(team) => {
                let id = team["Id"].as_str().unwrap_or_default();
                client.update_team(id, team).map(drop)
            }
            Write::Identity { broker, id } => client.delete_oidc_identity(broker, id),
            Write::Account(id) => client.delete_account(&space.id, id),
        }
    }
}

pub fn plan(client: &Client, plan: &mut Plan, settings: &Setup) -> Result<()> {
    let Some(username) = settings.broker.as_deref() else {
        return Ok(());
    };
    broker::check_username(username)?;
    let runbooks = sweep(client, plan, username)?;
    templates(client, plan, &runbooks)?;
    let found = broker::find_broker(client, username)?;
    match &found {
        Some(user) => {
            team(client, plan, username, &user.id)?;
            identity(client, plan, &user.id)?;
        }
        None => plan.steps.push(Step::new(
            "service account",
            username,
            Outcome::Skipped,
            "no such service account: no team, grant or OIDC identity of it to remove",
        )),
    }
    account(client, plan, username, &runbooks)?;
    if let Some(user) = found {
        plan.steps.push(Step::new(
            "service account",
            username,
            Outcome::Unchanged,
            format!(
                "{} kept: the audit log names it for every change its run keys made; disable it in Configuration > Users when no run uses it",
                user.id
            ),
        ));
    }
    Ok(())
}

/// The sweep's runbooks of this broker, in any project, and their triggers: the ids of the
/// runbooks removed.
fn sweep(client: &Client, plan: &mut Plan, username: &str) -> Result<Vec<String>> {
    let name = runbook_name(username);
    let runbooks: Vec<Value> = client
        .runbooks(&plan.space.id, None, &name)
        .context("looking for the sweep's runbook")?
        .into_iter()
        .filter(|r| r["Name"] == name.as_str())
        .collect();
    let mut ids = Vec::new();
    for runbook in runbooks {
        let id = runbook["Id"].as_str().unwrap_or_default().to_string();
        for trigger in client
            .runbook_triggers(&plan.space.id, &id)
            .context("reading the sweep's triggers")?
        {
            let trigger_id = trigger["Id"].as_str().unwrap_or_default().to_string();
            plan.steps.push(
                Step::new(
                    "trigger",
                    trigger["Name"].as_str().unwrap_or(&trigger_name(username)),
                    Outcome::Removed,
                    format!("{trigger_id}, which runs {id}"),
                )
                .writes(Write::Trigger(trigger_id)),
            );
        }
        plan.steps.push(
            Step::new(
                "runbook",
                &name,
                Outcome::Removed,
                format!(
                    "{id} in {}, with its process and snapshots",
                    runbook["ProjectId"].as_str().unwrap_or("its project")
                ),
            )
            .writes(Write::Runbook(id.clone())),
        );
        ids.push(id);
    }
    if ids.is_empty() {
        plan.steps.push(Step::new(
            "runbook",
            &name,
            Outcome::Skipped,
            "none in this space",
        ));
    }
    Ok(ids)
}

/// Each shipped template in the space that no step uses (the sweep's runbook being
/// removed does not count); one in use stays, and the checklist says where.
fn templates(client: &Client, plan: &mut Plan, removed: &[String]) -> Result<()> {
    for (_, json) in TEMPLATES {
        let Ok(shipped) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        let name = shipped["Name"].as_str().unwrap_or_default();
        let Some(template) = client
            .action_templates(&plan.space.id, name)
            .with_context(|| format!("looking for the step template '{name}'"))?
            .into_iter()
            .find(|t| t["Name"] == name)
        else {
            continue;
        };
        let id = template["Id"].as_str().unwrap_or_default().to_string();
        let users: Vec<String> = client
            .action_template_usage(&plan.space.id, &id)
            .with_context(|| format!("reading where the step template '{name}' is used"))?
            .iter()
            .filter(|u| !removed.iter().any(|r| u["RunbookId"] == r.as_str()))
            .map(|u| {
                format!(
                    "'{}' in {} of {}",
                    u["StepName"]
                        .as_str()
                        .or(u["ActionName"].as_str())
                        .unwrap_or("a step"),
                    u["RunbookName"]
                        .as_str()
                        .map(|r| format!("the runbook '{r}'"))
                        .unwrap_or_else(|| "the deployment process".to_string()),
                    u["ProjectId"].as_str().unwrap_or("a project")
                )
            })
            .collect();
        if users.is_empty() {
            plan.steps.push(
                Step::new(
                    "step template",
                    name,
                    Outcome::Removed,
                    format!("{id}: no step uses it"),
                )
                .writes(Write::Template(id)),
            );
        } else {
            plan.steps.push(Step::new(
                "step template",
                name,
                Outcome::Skipped,
                format!("{id} kept: {} step(s) use it", users.len()),
            ));
            plan.by_hand.push(format!(
                "The step template '{name}' is still used by {}: remove those steps (other brokers' runbooks may need them), then run setup --remove again to delete it.",
                users.join(", ")
            ));
        }
    }
    Ok(())
}

/// The broker's own team and its grants; its place on the shared team of an earlier setup.
/// A team of that name that holds anyone else is not deleted: its members would lose roles.
fn team(client: &Client, plan: &mut Plan, username: &str, broker: &str) -> Result<()> {
    let name = team_name(username);
    match broker::find_team(client, &plan.space, &name)? {
        None => plan.steps.push(Step::new(
            "team",
            &name,
            Outcome::Skipped,
            "none in this space",
        )),
        Some(team) => {
            let id = team["Id"].as_str().unwrap_or_default().to_string();
            let others = broker::others_in(&team, Some(broker));
            if !others.is_empty() {
                plan.steps.push(Step::new(
                    "team",
                    &name,
                    Outcome::Skipped,
                    format!(
                        "{id} kept: it holds {} besides the broker",
                        others.join(", ")
                    ),
                ));
                plan.by_hand.push(format!(
                    "The team '{name}' ({id}) holds {} besides the broker, so setup left it and its roles: remove the broker from it, or delete it, in Configuration > Teams.",
                    others.join(", ")
                ));
            } else {
                let roles = client.user_roles().context("reading the user roles")?;
                for grant in client
                    .team_roles(&id)
                    .context("reading the broker's team's roles")?
                {
                    let role = roles
                        .iter()
                        .find(|r| r.id == grant.user_role_id)
                        .map_or(grant.user_role_id.as_str(), |r| r.name.as_str());
                    plan.steps.push(
                        Step::new(
                            "role",
                            role,
                            Outcome::Removed,
                            format!("{} granted to the team", grant.id),
                        )
                        .writes(Write::Grant(grant.id.clone())),
                    );
                }
                plan.steps.push(
                    Step::new("team", &name, Outcome::Removed, id.clone()).writes(Write::Team(id)),
                );
            }
        }
    }
    if let Some(mut shared) = broker::find_team(client, &plan.space, SHARED_TEAM)?
        && let Some(members) = shared["MemberUserIds"].as_array_mut()
        && members.iter().any(|m| m == broker)
    {
        members.retain(|m| m != broker);
        let id = shared["Id"].as_str().unwrap_or_default().to_string();
        plan.steps.push(
            Step::new(
                "team",
                SHARED_TEAM,
                Outcome::Updated,
                format!(
                    "take the broker off {id}, the team an earlier setup shared between brokers"
                ),
            )
            .writes(Write::LeaveSharedTeam(json!(shared))),
        );
    }
    Ok(())
}

/// The broker's OIDC identities that setup made for this space (its name, and a subject
/// within this space's slug). An identity is the service account's, not the space's: one
/// for another space, or with a subject setup cannot tie to this space, stays.
fn identity(client: &Client, plan: &mut Plan, broker: &str) -> Result<()> {
    let identities = client
        .oidc_identities(broker)
        .context("reading the broker's OIDC identities")?;
    let prefix = plan
        .space
        .slug
        .as_deref()
        .map(|slug| format!("space:{slug}:"));
    for found in identities
        .oidc_identities
        .iter()
        .filter(|i| i.name == IDENTITY)
    {
        let this_space = prefix
            .as_deref()
            .is_some_and(|p| found.subject.starts_with(p));
        let shown = format!("{} for {}", found.issuer, found.subject);
        if this_space {
            plan.steps.push(
                Step::new("OIDC identity", shown, Outcome::Removed, found.id.clone()).writes(
                    Write::Identity {
                        broker: broker.to_string(),
                        id: found.id.clone(),
                    },
                ),
            );
        } else {
            plan.steps.push(Step::new(
                "OIDC identity",
                shown,
                Outcome::Skipped,
                "kept: its subject is not within this space's",
            ));
        }
    }
    Ok(())
}

/// The broker's Generic OIDC account, unless something other than the sweep's runbook uses
/// it.
fn account(client: &Client, plan: &mut Plan, username: &str, removed: &[String]) -> Result<()> {
    let name = account_name(username);
    let Some(found) = client
        .accounts(&plan.space.id, &name)
        .context("looking for the broker's OIDC account")?
        .into_iter()
        .find(|a| a["Name"] == name.as_str() && a["AccountType"] == "GenericOidcAccount")
    else {
        plan.steps.push(Step::new(
            "OIDC account",
            &name,
            Outcome::Skipped,
            "none in this space",
        ));
        return Ok(());
    };
    let id = found["Id"].as_str().unwrap_or_default().to_string();
    let usages = client
        .account_usages(&plan.space.id, &id)
        .context("reading where the broker's OIDC account is used")?;
    let users = users_of(&usages, removed);
    if users.is_empty() {
        plan.steps.push(
            Step::new(
                "OIDC account",
                &name,
                Outcome::Removed,
                format!("{id}: nothing else uses it"),
            )
            .writes(Write::Account(id)),
        );
    } else {
        plan.steps.push(Step::new(
            "OIDC account",
            &name,
            Outcome::Skipped,
            format!("{id} kept: {} use(s) it", users.len()),
        ));
        plan.by_hand.push(format!(
            "The OIDC account '{name}' is still used by {}: choose another account there, then run setup --remove again to delete it.",
            users.join(", ")
        ));
    }
    Ok(())
}

/// What an account's usages name, but the removed runbooks: each entry of each list.
fn users_of(usages: &Value, removed: &[String]) -> Vec<String> {
    let mut users = Vec::new();
    for (kind, entries) in usages.as_object().into_iter().flatten() {
        for entry in entries.as_array().into_iter().flatten() {
            if removed.iter().any(|r| entry["RunbookId"] == r.as_str()) {
                continue;
            }
            let name = ["RunbookName", "ProjectName", "Name", "Id"]
                .iter()
                .find_map(|field| entry[*field].as_str())
                .unwrap_or("one");
            users.push(format!("{name} ({kind})"));
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_usages_count_all_but_the_runbooks_removed() {
        let usages = json!({
            "Targets": [{"Id": "Machines-1", "Name": "web"}],
            "RunbookProcesses": [
                {"RunbookId": "Runbooks-1", "RunbookName": "Sweep run keys (b)", "ProjectName": "Ops"},
                {"RunbookId": "Runbooks-2", "RunbookName": "Restart", "ProjectName": "Ops"},
            ],
            "LibraryVariableSets": [],
        });
        let users = users_of(&usages, &["Runbooks-1".to_string()]);
        assert_eq!(users, ["Restart (RunbookProcesses)", "web (Targets)"]);
        assert!(
            users_of(
                &json!({"RunbookProcesses": [{"RunbookId": "Runbooks-1"}]}),
                &["Runbooks-1".to_string()]
            )
            .is_empty()
        );
    }
}
