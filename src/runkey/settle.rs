//! Settling a create attempt whose answer was lost: the server may or may not have made
//! the key, so every key carrying that attempt's marker (its nonce) is deleted.

use anyhow::Result;

use crate::octopus::Client;
use crate::purpose::Marker;

/// Deletes every key whose marker is exactly this attempt's: the keys a lost POST made.
/// Until an unfiltered listing finds none of them.
pub fn settle(client: &Client, owner: &str, marker: &Marker) -> Result<usize> {
    let deleted = client.delete_all_api_keys(owner, &marker.to_string(), |key| {
        Marker::parse(key.purpose()).as_ref() == Some(marker)
    })?;
    Ok(deleted.len())
}
