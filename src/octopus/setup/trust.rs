//! The broker's OIDC trust: the server's own issuer, the service account's OIDC identities
//! and the Generic OIDC accounts steps use.

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::octopus::client::Client;
use crate::octopus::client::PAGE_SIZE;
use crate::octopus::transport::Method;
use crate::octopus::url::encode;

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
    pub id: String,
    #[serde(default)]
    pub name: String,
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

    /// `DELETE /api/serviceaccounts/{id}/oidcidentities/{identity}/v1`.
    pub fn delete_oidc_identity(&self, account_id: &str, identity: &str) -> Result<()> {
        self.delete(&format!(
            "/api/serviceaccounts/{}/oidcidentities/{}/v1",
            encode(account_id),
            encode(identity)
        ))
    }

    /// `GET /api/{space}/accounts?partialName=`, every page.
    pub fn accounts(&self, space: &str, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/accounts");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/accounts?partialName={}&skip={skip}&take={PAGE_SIZE}",
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

    /// `GET /api/{space}/accounts/{id}/usages`: the targets, processes, snapshots and
    /// variable sets that use the account, one array each.
    pub fn account_usages(&self, space: &str, id: &str) -> Result<Value> {
        self.get(&format!(
            "/api/{}/accounts/{}/usages",
            encode(space),
            encode(id)
        ))
    }

    /// `DELETE /api/{space}/accounts/{id}`.
    pub fn delete_account(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!("/api/{}/accounts/{}", encode(space), encode(id)))
    }
}
