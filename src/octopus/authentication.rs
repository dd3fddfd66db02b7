//! The server's authentication settings (`GET /api/authentication`, anonymous): the most
//! days an API key may live, and whether people may have API keys at all. Read only to
//! explain a refused key with its fix.

use anyhow::Result;
use serde::Deserialize;

use super::client::Client;

/// What the tool reads of `GET /api/authentication`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authentication {
    /// The most days a new key may live (2025.4+; 366 by default).
    #[serde(default)]
    pub api_key_max_expiry_days: Option<i64>,
    /// Whether users (not service accounts) may create API keys (2023.2+).
    #[serde(default)]
    pub user_api_keys_enabled: Option<bool>,
}

impl Client {
    /// `GET /api/authentication`.
    pub fn authentication(&self) -> Result<Authentication> {
        self.get("/api/authentication")
    }
}
