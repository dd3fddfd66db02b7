//! The broker steps (`--broker USERNAME`): the service account, found by exact username or
//! created; the space team `Octopus Run Key brokers` holding it, found or created, the
//! broker added without touching other members; each `--role` granted to that team in this
//! space once. An unknown role, a role that cannot go on a space team, or a username that
//! belongs to a person are usage errors, found before anything is written.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::setup::Space;
use crate::octopus::{Client, User};
use crate::settings::Setup;

pub const TEAM: &str = "Octopus Run Key brokers";

pub enum Write {
    CreateAccount { username: String },
    CreateTeam,
    AddMember { team: Value },
    Grant { role_id: String },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        let broker = || known.broker_id.clone().unwrap_or_default();
        match self {
            Write::CreateAccount { username } => {
                let user = client.create_service_account(username, DISPLAY_NAME)?;
                known.broker_id = Some(user.id);
            }
            Write::CreateTeam => {
                let team = client.create_team(
                    &space.id,
                    &json!({
                        "Name": TEAM,
                        "Description": "The octopus-runkey broker service accounts: they mint each runbook run's short-lived API key. Made by octopus-runkey setup.",
                        "MemberUserIds": [broker()],
                        "ExternalSecurityGroups": [],
                        "SpaceId": space.id,
                    }),
                )?;
                known.team_id = team["Id"].as_str().map(str::to_string);
            }
            Write::AddMember { team } => {
                let mut team = team.clone();
                let id = team["Id"].as_str().unwrap_or_default().to_string();
                match team["MemberUserIds"].as_array_mut() {
                    Some(members) => members.push(Value::String(broker())),
                    None => team["MemberUserIds"] = json!([broker()]),
                }
                client.update_team(&id, &team)?;
            }
            Write::Grant { role_id } => {
                let team = known.team_id.clone().unwrap_or_default();
                client.grant_role(&team, role_id, &space.id)?;
            }
        }
        Ok(())
    }
}

/// The broker's display name; messages show it beside the username, which tells brokers
/// apart.
const DISPLAY_NAME: &str = "Octopus Run Key broker";

pub fn plan(client: &Client, plan: &mut Plan, settings: &Setup) -> Result<()> {
    let Some(username) = settings.broker.as_deref() else {
        plan.steps.push(Step::new(
            "broker",
            "-",
            Outcome::Skipped,
            "no --broker given: no service account, team, role or OIDC trust",
        ));
        return Ok(());
    };
    if username.trim().is_empty() || username.chars().count() > 64 {
        return Err(usage(format!(
            "--broker '{username}': a username has 1 to 64 characters"
        )));
    }
    // Roles first: an unknown one is a usage error before any write.
    let all_roles = client.user_roles().context("reading the user roles")?;
    let mut roles = Vec::new();
    for name in &settings.roles {
        let Some(role) = all_roles.iter().find(|r| &r.name == name) else {
            let names: Vec<&str> = all_roles.iter().map(|r| r.name.as_str()).collect();
            return Err(usage(format!(
                "--role '{name}': no user role of that name on {}; the roles are {}",
                client.server().base(),
                names.join(", ")
            )));
        };
        if role.granted_space_permissions.is_empty() {
            return Err(usage(format!(
                "--role '{name}' holds only system permissions, which Octopus does not grant to a space team: choose a role with space permissions"
            )));
        }
        roles.push(role.clone());
    }

    let found: Option<User> = client
        .users(username)
        .context("looking for the broker service account")?
        .into_iter()
        .find(|u| u.username.as_deref() == Some(username));
    match &found {
        Some(user) if user.is_service != Some(true) => {
            return Err(usage(format!(
                "--broker '{username}' is a person's account ({}), not a service account: give the username of a service account, or a new one for setup to create",
                user.id
            )));
        }
        Some(user) => {
            plan.known.broker_id = Some(user.id.clone());
            plan.steps.push(Step::new(
                "service account",
                username,
                Outcome::Unchanged,
                format!("{} exists", user.id),
            ));
        }
        None => plan.steps.push(
            Step::new(
                "service account",
                username,
                Outcome::Created,
                "create the broker service account (no password, no API key)",
            )
            .writes(Write::CreateAccount {
                username: username.to_string(),
            }),
        ),
    }

    let team = client
        .teams(&plan.space.id, TEAM)
        .context("looking for the brokers' team")?
        .into_iter()
        .find(|t| t["Name"] == TEAM && t["SpaceId"] == plan.space.id.as_str());
    let grants = match &team {
        Some(team) => {
            let id = team["Id"].as_str().unwrap_or_default().to_string();
            let member = plan.known.broker_id.as_ref().is_some_and(|broker| {
                team["MemberUserIds"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|id| id == broker.as_str()))
            });
            plan.steps.push(if member {
                Step::new(
                    "team",
                    TEAM,
                    Outcome::Unchanged,
                    format!("{id} holds the broker"),
                )
            } else {
                Step::new(
                    "team",
                    TEAM,
                    Outcome::Updated,
                    format!("add the broker to {id}; other members stay"),
                )
                .writes(Write::AddMember { team: team.clone() })
            });
            let grants = client
                .team_roles(&id)
                .context("reading the brokers' team's roles")?;
            plan.known.team_id = Some(id);
            grants
        }
        None => {
            plan.steps.push(
                Step::new(
                    "team",
                    TEAM,
                    Outcome::Created,
                    format!(
                        "create it in {} with the broker as its member",
                        plan.space.name
                    ),
                )
                .writes(Write::CreateTeam),
            );
            Vec::new()
        }
    };
    for role in roles {
        let granted = grants
            .iter()
            .any(|g| g.user_role_id == role.id && g.covers_space(&plan.space.id));
        plan.steps.push(if granted {
            Step::new(
                "role",
                &role.name,
                Outcome::Unchanged,
                "granted to the team in this space",
            )
        } else {
            Step::new(
                "role",
                &role.name,
                Outcome::Created,
                format!(
                    "grant it to the team in {} ({})",
                    plan.space.name,
                    role.granted_space_permissions.join(", ")
                ),
            )
            .writes(Write::Grant { role_id: role.id })
        });
    }
    Ok(())
}
