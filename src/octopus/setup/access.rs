//! Service accounts, teams, user roles and the scoped grants of roles to teams.

use anyhow::Result;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::octopus::client::Client;
use crate::octopus::client::PAGE_SIZE;
use crate::octopus::transport::Method;
use crate::octopus::url::encode;
use crate::octopus::wire::User;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRole {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub granted_space_permissions: Vec<String>,
    #[serde(default)]
    pub granted_system_permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScopedUserRole {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub team_id: String,
    pub user_role_id: String,
    #[serde(default)]
    pub space_id: Option<String>,
    #[serde(default)]
    pub project_ids: Vec<String>,
    #[serde(default)]
    pub environment_ids: Vec<String>,
    #[serde(default)]
    pub project_group_ids: Vec<String>,
    #[serde(default)]
    pub tenant_ids: Vec<String>,
}

impl ScopedUserRole {
    /// Whether this grant covers all of `space_id`, not only some projects or environments.
    pub fn covers_space(&self, space_id: &str) -> bool {
        self.space_id.as_deref() == Some(space_id) && self.scope() == Scope::default()
    }

    /// Where in its space the grant applies (empty lists: everywhere).
    pub fn scope(&self) -> Scope {
        Scope {
            project_ids: sorted(&self.project_ids),
            project_group_ids: sorted(&self.project_group_ids),
            environment_ids: sorted(&self.environment_ids),
            tenant_ids: sorted(&self.tenant_ids),
        }
    }
}

/// Where a grant applies in its space: these projects, project groups, environments and
/// tenants (an empty list means all of them, as Octopus reads it). Kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub project_ids: Vec<String>,
    pub project_group_ids: Vec<String>,
    pub environment_ids: Vec<String>,
    pub tenant_ids: Vec<String>,
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// A grant's body: `ProjectIds` and the rest from `scope`.
fn grant(id: Option<&str>, team_id: &str, role_id: &str, space: &str, scope: &Scope) -> Value {
    let mut body = json!({
        "TeamId": team_id,
        "UserRoleId": role_id,
        "SpaceId": space,
        "ProjectIds": scope.project_ids,
        "EnvironmentIds": scope.environment_ids,
        "ProjectGroupIds": scope.project_group_ids,
        "TenantIds": scope.tenant_ids,
    });
    if let Some(id) = id {
        body["Id"] = json!(id);
    }
    body
}

impl Client {
    /// `GET /api/users?filter=`, every page: users whose names contain `filter`.
    pub fn users(&self, filter: &str) -> Result<Vec<User>> {
        self.all_pages("GET /api/users", |skip| {
            format!(
                "/api/users?filter={}&skip={skip}&take={PAGE_SIZE}",
                encode(filter)
            )
        })
    }

    /// `POST /api/users`: a service account (never a password).
    pub fn create_service_account(&self, username: &str, display_name: &str) -> Result<User> {
        self.send(
            Method::Post,
            "/api/users",
            &json!({
                "Username": username,
                "DisplayName": display_name,
                "IsService": true,
                "IsActive": true,
            }),
        )
    }

    /// `GET /api/{space}/teams?partialName=`, every page.
    pub fn teams(&self, space: &str, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/teams");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/teams?partialName={}&skip={skip}&take={PAGE_SIZE}",
                encode(space),
                encode(name)
            )
        })
    }

    /// `POST /api/{space}/teams`.
    pub fn create_team(&self, space: &str, team: &Value) -> Result<Value> {
        self.send(Method::Post, &format!("/api/{}/teams", encode(space)), team)
    }

    /// `PUT /api/teams/{id}`, the whole team.
    pub fn update_team(&self, id: &str, team: &Value) -> Result<Value> {
        self.send(Method::Put, &format!("/api/teams/{}", encode(id)), team)
    }

    /// `GET /api/userroles/all`.
    pub fn user_roles(&self) -> Result<Vec<UserRole>> {
        self.get("/api/userroles/all")
    }

    /// `GET /api/teams/{id}/scopeduserroles`, every page.
    pub fn team_roles(&self, team_id: &str) -> Result<Vec<ScopedUserRole>> {
        let label = format!("GET /api/teams/{team_id}/scopeduserroles");
        self.all_pages(&label, |skip| {
            format!(
                "/api/teams/{}/scopeduserroles?skip={skip}&take={PAGE_SIZE}",
                encode(team_id)
            )
        })
    }

    /// `POST /api/scopeduserroles`: `role_id` for the team in `space`, within `scope`.
    pub fn grant_role(
        &self,
        team_id: &str,
        role_id: &str,
        space: &str,
        scope: &Scope,
    ) -> Result<Value> {
        self.send(
            Method::Post,
            "/api/scopeduserroles",
            &grant(None, team_id, role_id, space, scope),
        )
    }

    /// `PUT /api/{space}/scopeduserroles/{id}`: the grant, with another scope.
    pub fn update_grant(
        &self,
        existing: &ScopedUserRole,
        space: &str,
        scope: &Scope,
    ) -> Result<Value> {
        self.send(
            Method::Put,
            &format!(
                "/api/{}/scopeduserroles/{}",
                encode(space),
                encode(&existing.id)
            ),
            &grant(
                Some(&existing.id),
                &existing.team_id,
                &existing.user_role_id,
                space,
                scope,
            ),
        )
    }

    /// `DELETE /api/{space}/scopeduserroles/{id}`.
    pub fn delete_grant(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!(
            "/api/{}/scopeduserroles/{}",
            encode(space),
            encode(id)
        ))
    }

    /// `DELETE /api/{space}/teams/{id}`.
    pub fn delete_team(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!("/api/{}/teams/{}", encode(space), encode(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(json: serde_json::Value) -> ScopedUserRole {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_an_unscoped_grant_in_the_space_covers_it() {
        let whole = grant(serde_json::json!({"UserRoleId": "r", "SpaceId": "Spaces-1"}));
        assert!(whole.covers_space("Spaces-1"));
        assert!(!whole.covers_space("Spaces-2"));
        for scope in [
            "ProjectIds",
            "EnvironmentIds",
            "ProjectGroupIds",
            "TenantIds",
        ] {
            let scoped = grant(serde_json::json!({
                "UserRoleId": "r",
                "SpaceId": "Spaces-1",
                scope: ["X-1"],
            }));
            assert!(!scoped.covers_space("Spaces-1"), "{scope}");
        }
        let system = grant(serde_json::json!({"UserRoleId": "r", "SpaceId": null}));
        assert!(!system.covers_space("Spaces-1"));
    }
}
