//! The broker steps (`--broker USERNAME`): the service account, found by exact username or
//! created; a space team of its own, `Octopus Run Key broker <username>`, holding only it;
//! each `--role` granted to that team in this space once, kept to the projects, project
//! groups, environments and tenants given (a changed scope changes the grant in place). A
//! team of that name that holds anyone else (people, other accounts, an external group) is
//! never used: roles granted to it would reach them all. An unknown role, scope name, a
//! role that cannot go on a space team, or a username that belongs to a person are usage
//! errors, found before anything is written.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::setup::runbooks::Named;
use crate::octopus::setup::{Scope, ScopedUserRole, Space};
use crate::octopus::{Client, User};
use crate::settings::{ScopeNames, Setup};

/// The team of one broker.
pub fn team_name(username: &str) -> String {
    format!("Octopus Run Key broker {username}")
}

/// The one team an earlier setup shared between every broker.
pub const SHARED_TEAM: &str = "Octopus Run Key brokers";

pub enum Write {
    CreateAccount { username: String },
    CreateTeam { name: String },
    AddMember { team: Value },
    Grant { role_id: String, scope: Scope },
    Rescope { grant: ScopedUserRole, scope: Scope },
    Revoke { grant_id: String },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        let broker = || known.broker_id.clone().unwrap_or_default();
        match self {
            Write::CreateAccount { username } => {
                let user = client.create_service_account(username, DISPLAY_NAME)?;
                known.broker_id = Some(user.id);
            }
            Write::CreateTeam { name } => {
                let team = client.create_team(
                    &space.id,
                    &json!({
                        "Name": name,
                        "Description": "One octopus-runkey broker service account, alone: it mints each runbook run's short-lived API key, which can do what this team's roles allow. Made by octopus-runkey setup.",
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
                team["MemberUserIds"] = json!([broker()]);
                client.update_team(&id, &team)?;
            }
            Write::Grant { role_id, scope } => {
                let team = known.team_id.clone().unwrap_or_default();
                client.grant_role(&team, role_id, &space.id, scope)?;
            }
            Write::Rescope { grant, scope } => {
                client.update_grant(grant, &space.id, scope)?;
            }
            Write::Revoke { grant_id } => client.delete_grant(&space.id, grant_id)?,
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
    check_username(username)?;
    // Roles and scope first: an unknown name is a usage error before any write.
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
    let scope = resolve_scope(client, &plan.space, &settings.scope)?;

    let found = find_broker(client, username)?;
    match &found {
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

    let name = team_name(username);
    let team = find_team(client, &plan.space, &name)?;
    let grants = match &team {
        Some(team) => {
            let id = team["Id"].as_str().unwrap_or_default().to_string();
            refuse_a_shared_team(&plan.space, team, plan.known.broker_id.as_deref())?;
            let member = plan.known.broker_id.as_ref().is_some_and(|broker| {
                team["MemberUserIds"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|id| id == broker.as_str()))
            });
            plan.steps.push(if member {
                Step::new(
                    "team",
                    &name,
                    Outcome::Unchanged,
                    format!("{id} holds the broker alone"),
                )
            } else {
                Step::new(
                    "team",
                    &name,
                    Outcome::Updated,
                    format!("make the broker {id}'s one member"),
                )
                .writes(Write::AddMember { team: team.clone() })
            });
            let grants = client
                .team_roles(&id)
                .context("reading the broker's team's roles")?;
            plan.known.team_id = Some(id);
            grants
        }
        None => {
            plan.steps.push(
                Step::new(
                    "team",
                    &name,
                    Outcome::Created,
                    format!(
                        "create it in {} with the broker as its one member",
                        plan.space.name
                    ),
                )
                .writes(Write::CreateTeam { name: name.clone() }),
            );
            Vec::new()
        }
    };
    warn_of_the_shared_team(client, plan)?;
    let shown = describe_scope(&settings.scope);
    // The team's roles are the run keys' power: a grant no `--role` names goes, so that
    // a second setup with fewer roles leaves the broker with fewer.
    for grant in &grants {
        if roles.iter().any(|r| r.id == grant.user_role_id) {
            continue;
        }
        let role = all_roles
            .iter()
            .find(|r| r.id == grant.user_role_id)
            .map_or(grant.user_role_id.as_str(), |r| r.name.as_str());
        plan.steps.push(
            Step::new(
                "role",
                role,
                Outcome::Removed,
                format!(
                    "{} is granted to the team, but no --role names it",
                    grant.id
                ),
            )
            .writes(Write::Revoke {
                grant_id: grant.id.clone(),
            }),
        );
    }
    for role in roles {
        let existing = grants
            .iter()
            .find(|g| g.user_role_id == role.id && g.space_id.as_deref() == Some(&plan.space.id));
        plan.steps.push(match existing {
            Some(grant) if grant.scope() == scope => Step::new(
                "role",
                &role.name,
                Outcome::Unchanged,
                format!("granted to the team in {shown}"),
            ),
            Some(grant) => Step::new(
                "role",
                &role.name,
                Outcome::Updated,
                format!("keep the team's grant to {shown} (in place of its scope now)"),
            )
            .writes(Write::Rescope {
                grant: grant.clone(),
                scope: scope.clone(),
            }),
            None => Step::new(
                "role",
                &role.name,
                Outcome::Created,
                format!(
                    "grant it to the team in {shown} ({})",
                    role.granted_space_permissions.join(", ")
                ),
            )
            .writes(Write::Grant {
                role_id: role.id,
                scope: scope.clone(),
            }),
        });
    }
    Ok(())
}

pub fn check_username(username: &str) -> Result<()> {
    if username.trim().is_empty() || username.chars().count() > 64 {
        return Err(usage(format!(
            "--broker '{username}': a username has 1 to 64 characters"
        )));
    }
    Ok(())
}

/// The service account of that exact username; a person's account is a usage error.
pub fn find_broker(client: &Client, username: &str) -> Result<Option<User>> {
    let found = client
        .users(username)
        .context("looking for the broker service account")?
        .into_iter()
        .find(|u| u.username.as_deref() == Some(username));
    if let Some(user) = &found
        && user.is_service != Some(true)
    {
        return Err(usage(format!(
            "--broker '{username}' is a person's account ({}), not a service account: give the username of a service account, or a new one for setup to create",
            user.id
        )));
    }
    Ok(found)
}

/// The team of that exact name in this space.
pub fn find_team(client: &Client, space: &Space, name: &str) -> Result<Option<Value>> {
    Ok(client
        .teams(&space.id, name)
        .context("looking for the broker's team")?
        .into_iter()
        .find(|t| t["Name"] == name && t["SpaceId"] == space.id.as_str()))
}

/// Who a team holds besides the broker: its other members' ids and its external groups.
pub fn others_in(team: &Value, broker: Option<&str>) -> Vec<String> {
    team["MemberUserIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|id| Some(*id) != broker)
        .map(str::to_string)
        .chain(
            team["ExternalSecurityGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    format!(
                        "the external group {}",
                        g["DisplayName"]
                            .as_str()
                            .or(g["Id"].as_str())
                            .unwrap_or("(unnamed)")
                    )
                }),
        )
        .collect()
}

/// A team that holds anyone but the broker (or an external group) is never granted a role.
fn refuse_a_shared_team(space: &Space, team: &Value, broker: Option<&str>) -> Result<()> {
    let others = others_in(team, broker);
    if others.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "the team '{}' in {} holds {} besides the broker: setup grants roles only to a team that holds the broker alone, as its roles reach every member; remove them from the team, or delete it, and run setup again",
        team["Name"].as_str().unwrap_or_default(),
        space.name,
        others.join(", ")
    )))
}

/// An earlier setup put every broker on one shared team: say so, once, when this broker is
/// on it (its roles reach every broker there).
fn warn_of_the_shared_team(client: &Client, plan: &mut Plan) -> Result<()> {
    let Some(broker) = plan.known.broker_id.clone() else {
        return Ok(());
    };
    if let Some(team) = find_team(client, &plan.space, SHARED_TEAM)?
        && team["MemberUserIds"]
            .as_array()
            .is_some_and(|m| m.iter().any(|id| id == broker.as_str()))
    {
        plan.warnings.push(format!(
            "the broker is also on the team '{SHARED_TEAM}' ({}) that an earlier setup shared between all brokers, so it holds every role granted there: remove it from that team in Configuration > Teams",
            team["Id"].as_str().unwrap_or_default()
        ));
    }
    Ok(())
}

/// The scope's names as ids of this space; an unknown name is a usage error that lists the
/// names there are.
fn resolve_scope(client: &Client, space: &Space, names: &ScopeNames) -> Result<Scope> {
    let resolve = |collection: &str, flag: &str, wanted: &[String]| -> Result<Vec<String>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = wanted
            .iter()
            .map(|name| id_of(client, space, collection, flag, name))
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    };
    Ok(Scope {
        project_ids: resolve("projects", "--project", &names.projects)?,
        project_group_ids: resolve("projectgroups", "--project-group", &names.project_groups)?,
        environment_ids: resolve("environments", "--environment", &names.environments)?,
        tenant_ids: resolve("tenants", "--tenant", &names.tenants)?,
    })
}

/// The id of the project, project group, environment or tenant (`collection`) named `name`
/// in the space: the exact name, else the one name equal to it in another case. An unknown
/// name is a usage error (`flag` says whose) that lists the names there are.
pub fn id_of(
    client: &Client,
    space: &Space,
    collection: &str,
    flag: &str,
    name: &str,
) -> Result<String> {
    let all: Vec<Named> = client
        .all_named(&space.id, collection)
        .with_context(|| format!("reading the space's {collection}"))?;
    let found = all.iter().find(|n| n.name == name).or_else(|| {
        let lower = name.to_lowercase();
        let mut same = all.iter().filter(|n| n.name.to_lowercase() == lower);
        match (same.next(), same.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    });
    if let Some(named) = found {
        return Ok(named.id.clone());
    }
    let there: Vec<&str> = all.iter().map(|n| n.name.as_str()).collect();
    Err(usage(format!(
        "{flag} '{name}': no such name in {}; there are: {}",
        space.name,
        if there.is_empty() {
            "none".to_string()
        } else {
            there.join(", ")
        }
    )))
}

/// "all of the space", or "the projects Web, Ops and the environment Production".
fn describe_scope(names: &ScopeNames) -> String {
    let mut parts = Vec::new();
    for (one, many, list) in [
        ("the project", "the projects", &names.projects),
        (
            "the project group",
            "the project groups",
            &names.project_groups,
        ),
        ("the environment", "the environments", &names.environments),
        ("the tenant", "the tenants", &names.tenants),
    ] {
        match list.as_slice() {
            [] => {}
            [name] => parts.push(format!("{one} {name}")),
            names => parts.push(format!("{many} {}", names.join(", "))),
        }
    }
    if parts.is_empty() {
        "all of the space".to_string()
    } else {
        parts.join(" and ")
    }
}
