//! The broker's API keys: create, read, list, delete, and what counts as proof that a key
//! is gone. Only Octopus's own answer proves it: its JSON 404 naming the key, or a listing
//! of the owner's keys without it. A proxy's page, a server error or a filtered listing
//! proves nothing.

use anyhow::{Result, anyhow, bail};
use jiff::Timestamp;

use super::client::{Client, PAGE_SIZE};
use super::errors::{HttpError, Sent, TransportError};
use super::transport::{Body, Method};
use super::url::encode;
use super::wire::{ApiKeyInfo, CreatedKey, format_expires};
use crate::credential::is_key_shaped;

/// The `AccessLevel` of a key that can read but change nothing.
pub const READ_ONLY: &str = "ReadOnly";

/// How many listings [`Client::delete_all_api_keys`] makes before it gives up.
const MAX_PASSES: usize = 4;

pub enum Created {
    Key(CreatedKey),
    /// The create may or may not have happened: the answer was lost or unreadable.
    Unknown(anyhow::Error),
}

pub enum Deleted {
    Now,
    AlreadyGone,
}

impl Client {
    /// `GET /api/users/{owner}/apikeys/{id}`: one key, or `None` when the server proved it
    /// does not exist (see [`Client::proven_gone`]).
    pub fn api_key(&self, owner: &str, id: &str) -> Result<Option<ApiKeyInfo>> {
        match self.get(&format!(
            "/api/users/{}/apikeys/{}",
            encode(owner),
            encode(id)
        )) {
            Ok(key) => Ok(Some(key)),
            Err(e) if self.proven_gone(owner, id, &e)? => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `error` (the answer about key `id`) proves the key gone: Octopus's JSON 404
    /// naming the key, or a JSON 404 about something else followed by a listing of the
    /// owner's keys without it. An HTML page (a proxy's, a firewall's) or any other status
    /// proves nothing.
    fn proven_gone(&self, owner: &str, id: &str, error: &anyhow::Error) -> Result<bool> {
        let Some(http) = error.downcast_ref::<HttpError>() else {
            return Ok(false);
        };
        if !http.is_octopus_404() {
            return Ok(false);
        }
        if http.says_not_found(id) {
            return Ok(true);
        }
        Ok(!self
            .list_api_keys(owner, "")?
            .iter()
            .any(|key| key.id == id))
    }

    /// The keys of `owner` that `wanted` picks. `partial_purpose` narrows the first listing
    /// on servers that filter; an empty answer is confirmed with an unfiltered one, because a
    /// server's filter (substring? prefix? a SQL pattern?) is no proof that a key is absent.
    pub fn find_api_keys(
        &self,
        owner: &str,
        partial_purpose: &str,
        wanted: impl Fn(&ApiKeyInfo) -> bool,
    ) -> Result<Vec<ApiKeyInfo>> {
        let found: Vec<_> = self
            .list_api_keys(owner, partial_purpose)?
            .into_iter()
            .filter(&wanted)
            .collect();
        if !found.is_empty() || partial_purpose.is_empty() {
            return Ok(found);
        }
        Ok(self
            .list_api_keys(owner, "")?
            .into_iter()
            .filter(wanted)
            .collect())
    }

    /// Deletes every key `wanted` picks until a listing that can be trusted finds none: keys
    /// shift between pages while other runs delete theirs, so one pass may miss one. The
    /// listing is trusted filtered once the server has shown that it filters (it answered
    /// with keys, all of them holding `partial_purpose`: the keys wanted all hold it too);
    /// otherwise (an empty answer, or a server that ignores the filter) unfiltered. Returns
    /// the keys deleted (and those already gone by then).
    pub fn delete_all_api_keys(
        &self,
        owner: &str,
        partial_purpose: &str,
        wanted: impl Fn(&ApiKeyInfo) -> bool,
    ) -> Result<Vec<(ApiKeyInfo, Deleted)>> {
        let mut done = Vec::new();
        let mut filter = partial_purpose;
        let mut filter_proven = false;
        for _ in 0..MAX_PASSES {
            let listed = self.list_api_keys(owner, filter)?;
            if !filter.is_empty() && !filter_proven {
                filter_proven =
                    !listed.is_empty() && listed.iter().all(|key| key.purpose().contains(filter));
            }
            let keys: Vec<_> = listed
                .into_iter()
                .filter(&wanted)
                .filter(|key| {
                    !done
                        .iter()
                        .any(|(d, _): &(ApiKeyInfo, Deleted)| d.id == key.id)
                })
                .collect();
            if keys.is_empty() && (filter.is_empty() || filter_proven) {
                return Ok(done);
            }
            for key in keys {
                let deleted = self.delete_api_key(owner, &key.id)?;
                done.push((key, deleted));
            }
            if !filter_proven {
                filter = "";
            }
        }
        bail!(
            "GET /api/users/{owner}/apikeys: keys to delete were still listed after {MAX_PASSES} passes; run the step again"
        )
    }

    /// `GET /api/users/{owner}/apikeys`, every page: the keys whose purpose contains
    /// `partial_purpose` on servers that filter (`partialPurpose`), or every key on servers
    /// that ignore the parameter. Callers filter by marker either way.
    pub fn list_api_keys(&self, owner: &str, partial_purpose: &str) -> Result<Vec<ApiKeyInfo>> {
        let label = format!("GET /api/users/{owner}/apikeys");
        self.all_pages(&label, |skip| {
            format!(
                "/api/users/{}/apikeys?skip={skip}&take={PAGE_SIZE}&partialPurpose={}",
                encode(owner),
                encode(partial_purpose)
            )
        })
    }

    /// `DELETE /api/users/{owner}/apikeys/{id}`; a key that is already gone is not an error.
    pub fn delete_api_key(&self, owner: &str, id: &str) -> Result<Deleted> {
        let path = format!("/api/users/{}/apikeys/{}", encode(owner), encode(id));
        let label = format!("DELETE {path}");
        match self
            .transport
            .exchange(Method::Delete, &self.server().url(&path), &label, None)
        {
            Ok(_) => Ok(Deleted::Now),
            Err(e) if self.proven_gone(owner, id, &e)? => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/users/{owner}/apikeys`. Never repeated once it may have reached the
    /// server: an answer that is lost, unreadable or a server error is [`Created::Unknown`],
    /// and the caller settles it through the attempt's nonce.
    pub fn create_api_key(
        &self,
        owner: &str,
        purpose: &str,
        expires: Timestamp,
        read_only: bool,
    ) -> Result<Created> {
        let path = format!("/api/users/{}/apikeys", encode(owner));
        let label = format!("POST {path}");
        let mut body = serde_json::json!({
            "Purpose": purpose,
            "Expires": format_expires(expires),
            "UserId": owner,
        });
        // No public source documents a create field for the access level (only the web UI
        // makes such keys): asked for by the name the key carries it under, and trusted
        // only as read back.
        if read_only {
            body["AccessLevel"] = serde_json::json!(READ_ONLY);
        }
        let body = serde_json::to_vec(&body)?;
        let reply = match self.transport.exchange(
            Method::Post,
            &self.server().url(&path),
            &label,
            Some(Body::json(&body)),
        ) {
            Ok(reply) => reply,
            Err(e) => {
                let unknown = match (
                    e.downcast_ref::<HttpError>(),
                    e.downcast_ref::<TransportError>(),
                ) {
                    (Some(http), _) => http.status >= 500 || http.status == 429,
                    (_, Some(transport)) => transport.sent == Sent::Maybe,
                    _ => false,
                };
                return if unknown {
                    Ok(Created::Unknown(e))
                } else {
                    Err(e)
                };
            }
        };
        match serde_json::from_str::<CreatedKey>(&reply.body) {
            Ok(key) if is_key_shaped(key.api_key.expose()) => Ok(Created::Key(key)),
            _ => Ok(Created::Unknown(anyhow!(
                "{label}: the server answered {} but the body is not a created API key",
                reply.status
            ))),
        }
    }
}
