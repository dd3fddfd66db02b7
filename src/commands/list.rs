//! `list`: the broker's keys that carry this tool's marker.

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde_json::json;

use crate::console::{Console, neutralise_json, shown};
use crate::exit::ExitStatus;
use crate::octopus::{self, ApiKeyInfo, connect};
use crate::purpose::Marker;
use crate::settings::List;

pub fn run(settings: &List, console: &Console) -> Result<ExitStatus> {
    let client = connect::broker(&settings.connection, &settings.broker, console)?;
    let owner = client
        .me()
        .context("finding the broker account (GET /api/users/me)")?;
    let keys: Vec<ApiKeyInfo> = client.find_api_keys(&owner.id, Marker::any_prefix(), |key| {
        Marker::parse(key.purpose()).is_some()
    })?;
    let now = Timestamp::now();
    let expired = |key: &ApiKeyInfo| key.expires_at().is_some_and(|at| at <= now);
    let show = |at: Option<Timestamp>| at.map(octopus::utc);

    if settings.json {
        let rows: Vec<_> = keys
            .iter()
            .map(|key| {
                json!({
                    "Id": key.id,
                    "Purpose": key.purpose(),
                    "Created": show(key.created_at()),
                    "Expires": show(key.expires_at()),
                    "Expired": expired(key),
                })
            })
            .collect();
        console.line(&neutralise_json(&serde_json::to_string_pretty(&rows)?))?;
        return Ok(ExitStatus::Success);
    }
    if keys.is_empty() {
        console.text(&format!(
            "No keys made by octopus-runkey for {}.",
            owner.describe()
        ))?;
        return Ok(ExitStatus::Success);
    }
    let width = keys.iter().map(|k| k.id.len()).max().unwrap_or(2).max(2);
    let mut table = format!(
        "{:<width$}  {:<20}  {:<20}  {:<7}  PURPOSE\n",
        "ID", "CREATED", "EXPIRES", "STATE"
    );
    for key in &keys {
        let dash = || "-".to_string();
        table.push_str(&format!(
            "{:<width$}  {:<20}  {:<20}  {:<7}  {}\n",
            key.id,
            show(key.created_at()).unwrap_or_else(dash),
            show(key.expires_at()).unwrap_or_else(dash),
            if expired(key) { "expired" } else { "live" },
            shown(key.purpose())
        ));
    }
    console.text(table.trim_end())?;
    Ok(ExitStatus::Success)
}
