//! The endpoints `setup` prepares a space with, one short function each: spaces, the
//! built-in feed, step templates, service accounts, teams, user roles and their grants,
//! the broker's OIDC identities and accounts. Resources that are sent back whole (a team, a
//! template, an account) stay JSON values, so that fields this tool does not know survive a
//! `PUT` unchanged.

use anyhow::{Result, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::Client;
use super::errors::is_octopus_404;
use super::transport::{Body, MULTIPART_BOUNDARY, Method};
use super::url::encode;
use super::wire::User;

/// How many items one page asks for.
const TAKE: u32 = 100;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Space {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

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
        self.space_id.as_deref() == Some(space_id)
            && self.project_ids.is_empty()
            && self.environment_ids.is_empty()
            && self.project_group_ids.is_empty()
            && self.tenant_ids.is_empty()
    }
}

/// A service account's OIDC side: its external id (the audience) and its identities.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OidcIdentities {
    pub external_id: String,
    #[serde(default)]
    pub oidc_identities: Vec<OidcIdentity>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OidcIdentity {
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub subject: String,
}

#[derive(Deserialize)]
struct Discovery {
    #[serde(default)]
    issuer: Option<String>,
}

impl Client {
    /// `GET /api/spaces`, every page.
    pub fn spaces(&self) -> Result<Vec<Space>> {
        self.all_pages("GET /api/spaces", |skip| {
            format!("/api/spaces?skip={skip}&take={TAKE}")
        })
    }

    /// `GET /api/{space}/packages/{id}.{version}`: whether the built-in feed has it. Only
    /// Octopus's own JSON 404 means no.
    pub fn package_exists(&self, space: &str, id: &str, version: &str) -> Result<bool> {
        let path = format!(
            "/api/{}/packages/{}",
            encode(space),
            encode(&format!("{id}.{version}"))
        );
        match self.get::<Value>(&path) {
            Ok(_) => Ok(true),
            Err(e) if is_octopus_404(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/{space}/packages/raw?overwriteMode=IgnoreIfExists`, one multipart `file`
    /// part. Returns the status: 201 pushed, 200 already there.
    pub fn upload_package(&self, space: &str, file_name: &str, bytes: &[u8]) -> Result<u16> {
        if bytes
            .windows(MULTIPART_BOUNDARY.len())
            .any(|w| w == MULTIPART_BOUNDARY.as_bytes())
        {
            bail!(
                "the package {file_name} contains the text that separates the parts of the upload ({MULTIPART_BOUNDARY}); upload it by hand in Library > Packages"
            );
        }
        let mut body = format!(
            "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
        let path = format!(
            "/api/{}/packages/raw?overwriteMode=IgnoreIfExists",
            encode(space)
        );
        let label = format!("POST /api/{space}/packages/raw");
        let reply = self.transport.exchange(
            Method::Post,
            &self.server().url(&path),
            &label,
            Some(Body::multipart(&body)),
        )?;
        Ok(reply.status)
    }

    /// `GET /api/{space}/actiontemplates?partialName=`, every page: the templates whose name
    /// contains `name` (the caller matches it exactly).
    pub fn action_templates(&self, space: &str, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/actiontemplates");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/actiontemplates?partialName={}&skip={skip}&take={TAKE}",
                encode(space),
                encode(name)
            )
        })
    }

    /// `POST /api/{space}/actiontemplates`.
    pub fn create_action_template(&self, space: &str, template: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/actiontemplates", encode(space)),
            template,
        )
    }

    /// `PUT /api/{space}/actiontemplates/{id}` (the server bumps `Version`).
    pub fn update_action_template(&self, space: &str, id: &str, template: &Value) -> Result<Value> {
        self.send(
            Method::Put,
            &format!("/api/{}/actiontemplates/{}", encode(space), encode(id)),
            template,
        )
    }

    /// `GET /api/users?filter=`, every page: users whose names contain `filter`.
    pub fn users(&self, filter: &str) -> Result<Vec<User>> {
        self.all_pages("GET /api/users", |skip| {
            format!(
                "/api/users?filter={}&skip={skip}&take={TAKE}",
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
                "/api/{}/teams?partialName={}&skip={skip}&take={TAKE}",
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
                "/api/teams/{}/scopeduserroles?skip={skip}&take={TAKE}",
                encode(team_id)
            )
        })
    }

    /// `POST /api/scopeduserroles`: `role_id` for the team in all of `space`.
    pub fn grant_role(&self, team_id: &str, role_id: &str, space: &str) -> Result<Value> {
        self.send(
            Method::Post,
            "/api/scopeduserroles",
            &json!({
                "TeamId": team_id,
                "UserRoleId": role_id,
                "SpaceId": space,
                "ProjectIds": [],
                "EnvironmentIds": [],
                "ProjectGroupIds": [],
                "TenantIds": [],
            }),
        )
    }

    /// The `issuer` of the server's own OpenID Connect discovery document.
    pub fn oidc_issuer(&self) -> Result<String> {
        let discovery: Discovery = self.get("/.well-known/openid-configuration")?;
        match discovery.issuer {
            Some(issuer) if !issuer.is_empty() => Ok(issuer),
            _ => bail!(
                "GET /.well-known/openid-configuration: the discovery document names no issuer; check that {} is an Octopus Server of 2025.1 or later",
                self.server().base()
            ),
        }
    }

    /// `GET /api/serviceaccounts/{id}/oidcidentities/v1`.
    pub fn oidc_identities(&self, account_id: &str) -> Result<OidcIdentities> {
        self.get(&format!(
            "/api/serviceaccounts/{}/oidcidentities/v1?skip=0&take=1000",
            encode(account_id)
        ))
    }

    /// `POST /api/serviceaccounts/{id}/oidcidentities/create/v1`.
    pub fn create_oidc_identity(
        &self,
        account_id: &str,
        name: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<Value> {
        self.send(
            Method::Post,
            &format!(
                "/api/serviceaccounts/{}/oidcidentities/create/v1",
                encode(account_id)
            ),
            &json!({
                "ServiceAccountId": account_id,
                "Name": name,
                "Issuer": issuer,
                "Subject": subject,
            }),
        )
    }

    /// `GET /api/{space}/accounts?partialName=`, every page.
    pub fn accounts(&self, space: &str, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/accounts");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/accounts?partialName={}&skip={skip}&take={TAKE}",
                encode(space),
                encode(name)
            )
        })
    }

    /// `POST /api/{space}/accounts`.
    pub fn create_account(&self, space: &str, account: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/accounts", encode(space)),
            account,
        )
    }

    /// `PUT /api/{space}/accounts/{id}`.
    pub fn update_account(&self, space: &str, id: &str, account: &Value) -> Result<Value> {
        self.send(
            Method::Put,
            &format!("/api/{}/accounts/{}", encode(space), encode(id)),
            account,
        )
    }

    /// A POST or PUT of `body` as JSON; the answer as JSON.
    fn send<T: DeserializeOwned>(&self, method: Method, path: &str, body: &Value) -> Result<T> {
        let verb = if method == Method::Put { "PUT" } else { "POST" };
        let label = format!("{verb} {}", path.split('?').next().unwrap_or(path));
        let bytes = serde_json::to_vec(body)?;
        let reply = self.transport.exchange(
            method,
            &self.server().url(path),
            &label,
            Some(Body::json(&bytes)),
        )?;
        self.decode(&label, &reply.body)
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
