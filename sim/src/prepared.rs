//! What a space holds that `setup` prepares, beside users: the spaces themselves (with the
//! `Slug` OIDC subjects use and the default space), the built-in feed's packages, step
//! templates (kept as the JSON resources Octopus serves, with its server-side `Version`),
//! teams, the user roles and their grants to teams (scoped user roles), and accounts. The
//! simulator starts with one default space, the built-in roles a client looks up by name
//! ("Runbook consumer" among them), and the space's "Space Managers" team, built in (it
//! cannot be deleted). Runbooks and triggers live in `runbooks`, projects and environments
//! in `catalog`.

use jiff::Timestamp;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Space {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub is_default: bool,
}

/// A package in a space's built-in feed (`feeds-builtin`).
#[derive(Debug, Clone)]
pub struct Package {
    /// `packages-<PackageId>.<Version>`.
    pub id: String,
    pub space_id: String,
    pub package_id: String,
    pub version: String,
    /// `.tar.gz`, `.zip`, ...
    pub file_extension: String,
    pub bytes: Vec<u8>,
    pub published: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Team {
    /// `Teams-N`.
    pub id: String,
    pub name: String,
    /// `None` for a system team (visible from every space).
    pub space_id: Option<String>,
    pub description: String,
    pub member_user_ids: Vec<String>,
    /// Groups of an external identity provider whose members belong to the team, kept as
    /// sent (`{"Id": "S-1-5-21-...-513", "DisplayName": "Domain Users"}` for an Active
    /// Directory group).
    pub external_security_groups: Vec<Value>,
    /// False for a built-in team (a space's "Space Managers"), which Octopus refuses to
    /// delete.
    pub can_be_deleted: bool,
}

#[derive(Debug, Clone)]
pub struct UserRole {
    pub id: String,
    pub name: String,
    pub space_permissions: Vec<String>,
    pub system_permissions: Vec<String>,
}

/// A user role granted to a team, in a space, optionally narrowed to projects,
/// environments, project groups or tenants. An empty list means all of that kind, not
/// none: a grant with every list empty covers the whole space.
#[derive(Debug, Clone)]
pub struct ScopedUserRole {
    /// `ScopedUserRoles-N`.
    pub id: String,
    pub team_id: String,
    pub user_role_id: String,
    pub space_id: Option<String>,
    pub project_ids: Vec<String>,
    pub environment_ids: Vec<String>,
    pub project_group_ids: Vec<String>,
    pub tenant_ids: Vec<String>,
}

impl ScopedUserRole {
    pub fn is_whole_space(&self) -> bool {
        self.project_ids.is_empty()
            && self.environment_ids.is_empty()
            && self.project_group_ids.is_empty()
            && self.tenant_ids.is_empty()
    }
}

pub(crate) struct Prepared {
    pub spaces: Vec<Space>,
    pub packages: Vec<Package>,
    /// Step templates as served (`ActionTemplates-N`, `Version`, `SpaceId`, ...).
    pub action_templates: Vec<Value>,
    pub teams: Vec<Team>,
    pub user_roles: Vec<UserRole>,
    pub scoped_roles: Vec<ScopedUserRole>,
    /// Accounts as served (`Accounts-N`, `AccountType`, ...).
    pub accounts: Vec<Value>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Prepared {
    pub fn new() -> Prepared {
        let role = |id: &str, name: &str, space: &[&str], system: &[&str]| UserRole {
            id: id.to_string(),
            name: name.to_string(),
            space_permissions: strings(space),
            system_permissions: strings(system),
        };
        Prepared {
            spaces: vec![Space {
                id: "Spaces-1".into(),
                name: "Default".into(),
                slug: "default".into(),
                is_default: true,
            }],
            packages: Vec::new(),
            action_templates: Vec::new(),
            teams: vec![Team {
                id: "teams-spacemanagers-Spaces-1".into(),
                name: "Space Managers".into(),
                space_id: Some("Spaces-1".into()),
                description: "Members of this team can manage the space.".into(),
                member_user_ids: Vec::new(),
                external_security_groups: Vec::new(),
                can_be_deleted: false,
            }],
            user_roles: vec![
                role(
                    "userroles-runbookconsumer",
                    "Runbook consumer",
                    &[
                        "TaskView",
                        "EventView",
                        "ProjectView",
                        "RunbookView",
                        "RunbookRunView",
                        "RunbookRunCreate",
                    ],
                    &[],
                ),
                role(
                    "userroles-projectviewer",
                    "Project viewer",
                    &["ProjectView", "EnvironmentView", "TaskView", "EventView"],
                    &[],
                ),
                role(
                    "userroles-runbookproducer",
                    "Runbook producer",
                    &[
                        "ProjectView",
                        "RunbookView",
                        "RunbookEdit",
                        "RunbookRunView",
                        "RunbookRunCreate",
                        "TaskView",
                    ],
                    &[],
                ),
                role(
                    "userroles-environmentmanager",
                    "Environment manager",
                    &["EnvironmentView", "MachineView", "MachineEdit", "TaskView"],
                    &[],
                ),
                role(
                    "userroles-systemadministrator",
                    "System administrator",
                    &[],
                    &[
                        "AdministerSystem",
                        "ConfigureServer",
                        "UserEdit",
                        "TeamEdit",
                    ],
                ),
            ],
            scoped_roles: Vec::new(),
            accounts: Vec::new(),
        }
    }

    pub fn space(&self, id: &str) -> Option<&Space> {
        self.spaces.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// Every permission the teams of `user_id` grant it (in any space).
    pub fn team_permissions(&self, user_id: &str) -> Vec<String> {
        let mut permissions = Vec::new();
        for team in self
            .teams
            .iter()
            .filter(|t| t.member_user_ids.iter().any(|m| m == user_id))
        {
            for grant in self.scoped_roles.iter().filter(|g| g.team_id == team.id) {
                if let Some(role) = self.user_roles.iter().find(|r| r.id == grant.user_role_id) {
                    for p in role
                        .space_permissions
                        .iter()
                        .chain(&role.system_permissions)
                    {
                        if !permissions.contains(p) {
                            permissions.push(p.clone());
                        }
                    }
                }
            }
        }
        permissions
    }
}
