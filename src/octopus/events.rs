//! The audit log: `GET /api/events`, the changes a user made (Octopus records changes, not
//! reads), newest first, paged. Needs EventView. The server filters by user and time, never
//! by API key or purpose: `audit` attributes events itself.

use anyhow::Result;
use jiff::Timestamp;
use serde::Deserialize;

use super::client::Client;
use super::url::encode;
use super::wire::{format_expires, parse_timestamp};

/// One audited change (`EventResource`), as far as the tool reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// How the user identified itself: for an API key, its purpose inside the text.
    #[serde(default)]
    pub identity_established_with: Option<String>,
    #[serde(default)]
    pub occurred: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub related_document_ids: Vec<String>,
    /// The key that made the change, on newer servers.
    #[serde(default)]
    pub api_key_id: Option<String>,
}

impl Event {
    pub fn occurred_at(&self) -> Option<Timestamp> {
        self.occurred.as_deref().and_then(parse_timestamp)
    }
}

/// How many events one page asks for.
const EVENTS_PAGE: u32 = 100;

impl Client {
    /// Every event of `user_id` between `from` and `to`, newest first.
    pub fn events(&self, user_id: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        self.events_of(Some(user_id), from, to)
    }

    /// Every event between `from` and `to`, of `user_id` or of everyone, newest first.
    pub fn events_of(
        &self,
        user_id: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Event>> {
        let (from, to) = (format_expires(from), format_expires(to));
        let users = user_id.map_or_else(String::new, |id| format!("users={}&", encode(id)));
        self.all_pages("GET /api/events", |skip| {
            format!(
                "/api/events?{users}from={}&to={}&skip={skip}&take={EVENTS_PAGE}",
                encode(&from),
                encode(&to)
            )
        })
    }

    /// The API keys made since `since` with one of the keys `key_ids` (see [`minted_in`]).
    /// Needs EventView.
    pub fn keys_created_with(
        &self,
        owner: &str,
        key_ids: &[&str],
        marker: &str,
        since: Timestamp,
    ) -> Result<Vec<String>> {
        let events = self.events(owner, since, Timestamp::now())?;
        Ok(minted_in(&events, key_ids, marker))
    }
}

/// Whether `event` was made with one of the keys `key_ids`: its `ApiKeyId` where the server
/// records it, else the key's purpose inside `IdentityEstablishedWith`, which holds `marker`
/// (a whole marker, or the start every marker of a task shares).
pub fn made_with(event: &Event, key_ids: &[&str], marker: &str) -> bool {
    event
        .api_key_id
        .as_deref()
        .is_some_and(|id| key_ids.contains(&id))
        || event
            .identity_established_with
            .as_deref()
            .is_some_and(|identity| identity.contains(marker))
}

/// The API keys that one of the keys `key_ids` created, by the ids in the `RelatedDocumentIds`
/// of their creation events, oldest first. A run key can mint keys for the broker; they
/// carry no marker, so only the audit log shows where they came from.
pub fn minted_in(events: &[Event], key_ids: &[&str], marker: &str) -> Vec<String> {
    let mut minted: Vec<String> = Vec::new();
    for event in events.iter().rev() {
        if event.category.as_deref() != Some("Created") || !made_with(event, key_ids, marker) {
            continue;
        }
        for id in &event.related_document_ids {
            if id.to_ascii_lowercase().starts_with("apikeys-")
                && !key_ids.contains(&id.as_str())
                && !minted.contains(id)
            {
                minted.push(id.clone());
            }
        }
    }
    minted
}
