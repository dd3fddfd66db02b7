//! A run key as this run holds it: its id, owner, secret and expiry, the purpose that
//! names the operator, and how it is revoked by the command that made it.

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};

use super::ending::RunKeys;
use super::settle::settle;
use crate::octopus::{self, Client, Deleted, LastUsed, User};
use crate::purpose::Marker;
use crate::secret::Secret;

/// A key this run made.
pub struct RunKey {
    pub id: String,
    pub owner: User,
    pub key: Secret,
    /// When it was made (the server's `Created`, else this worker's clock at the answer).
    pub created: Timestamp,
    /// The expiry the server answered with; `None` when it named none.
    pub expires: Option<Timestamp>,
    /// The expiry asked for.
    pub requested: Timestamp,
    pub purpose: String,
    /// Who the purpose names, for the summary line.
    pub operator: String,
    /// Markers of create attempts whose answer was lost. A slow server may still finish one
    /// after it was settled; `exec` looks for them again when it revokes.
    pub lost_attempts: Vec<Marker>,
    /// Made read-only (`--access read-only`, confirmed by the server): it cannot delete
    /// itself, so no guard holding only it is left.
    pub read_only: bool,
}

impl RunKey {
    pub fn summary(&self) -> String {
        format!(
            "Created run key {} for {}, owned by {}, expires {}.",
            self.id,
            self.operator,
            self.owner.describe(),
            self.expires_text()
        )
    }

    /// `ApiKeyExpires`: what the server said, or empty when it said nothing.
    pub fn expires_utc(&self) -> String {
        self.expires.map(octopus::utc).unwrap_or_default()
    }

    /// For messages: the expiry, or what is known of it.
    pub fn expires_text(&self) -> String {
        self.expires.map_or_else(
            || "at the server's default expiry (the server named none)".to_string(),
            octopus::utc,
        )
    }

    /// How long a guard may need to watch: until the key expires, or when the server named
    /// no expiry, a week at most.
    pub fn guard_until(&self) -> Timestamp {
        self.expires.unwrap_or_else(|| {
            Timestamp::now()
                .checked_add(SignedDuration::from_hours(24 * 7))
                .unwrap_or(self.requested)
        })
    }

    /// The marker its purpose ends with.
    pub fn marker(&self) -> String {
        Marker::parse(&self.purpose).map_or_else(String::new, |m| m.to_string())
    }

    /// It, for the end of the run; `last_used` as the server says.
    pub fn at_the_end(&self, last_used: LastUsed) -> RunKeys<'_> {
        RunKeys {
            owner: &self.owner.id,
            key_ids: vec![&self.id],
            marker: self.marker(),
            created: self.created,
            last_used,
        }
    }

    /// Deletes the key (and any key a lost create attempt left after all) and says what
    /// happened, in one line for the task log. The caller says what stays live on failure.
    pub fn revoke(&self, client: &Client) -> Result<String> {
        // A create attempt whose answer was lost may have been finished by a slow server
        // after it was settled: look once more, now that the command has run.
        let late: usize = self
            .lost_attempts
            .iter()
            .filter_map(|marker| settle(client, &self.owner.id, marker).ok())
            .sum();
        let late = if late > 0 {
            format!(" Also deleted {late} key(s) left by a create attempt whose answer was lost.")
        } else {
            String::new()
        };
        Ok(match client.delete_api_key(&self.owner.id, &self.id)? {
            Deleted::Now => format!("Revoked run key {}.{late}", self.id),
            Deleted::AlreadyGone => format!("Run key {} was already revoked.{late}", self.id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_expiring(expires: Option<Timestamp>) -> RunKey {
        RunKey {
            id: "ApiKeys-1".to_string(),
            owner: User {
                id: "Users-2".to_string(),
                username: None,
                display_name: None,
                is_service: Some(true),
            },
            key: Secret::new("not-a-real-key"),
            created: Timestamp::now(),
            expires,
            requested: Timestamp::now() + SignedDuration::from_hours(1),
            purpose: String::new(),
            operator: String::new(),
            lost_attempts: Vec::new(),
            read_only: false,
        }
    }

    #[test]
    fn a_guard_watches_until_the_expiry_the_server_answered() {
        let expires = Timestamp::now() + SignedDuration::from_mins(30);
        assert_eq!(key_expiring(Some(expires)).guard_until(), expires);
    }

    #[test]
    fn a_key_the_server_named_no_expiry_for_is_guarded_for_a_week() {
        let week = Timestamp::now() + SignedDuration::from_hours(168);
        let until = key_expiring(None).guard_until();
        assert!(
            until.duration_since(week).abs() < SignedDuration::from_mins(1),
            "{until} is not a week from now ({week})"
        );
    }
}
