//! The Octopus REST client: one short function per endpoint on top of the transport.
//! `transport` sends and retries, `url` builds and checks addresses, `wire` holds what
//! Octopus sends, `errors` turns a failure into one line. The client takes values (a
//! [`Connection`], a [`Credential`], the console); it never reads the environment.

pub mod errors;
pub mod events;
pub mod oidc;
pub mod setup;
pub mod tasks;
pub mod transport;
pub mod url;
pub mod wire;

use std::collections::HashSet;

use anyhow::{Result, anyhow, bail};
use jiff::Timestamp;
use serde::de::DeserializeOwned;

pub use errors::{HttpError, Sent, TransportError, status_of};
pub use transport::{Connection, MAX_RETRY_AFTER, ProxySetting};
pub use url::{ServerUrl, UrlProblem};
pub use wire::{ApiKeyInfo, CreatedKey, RunbookRun, User, format_expires, parse_timestamp, utc};

use crate::console::Console;
use crate::credential::{Credential, is_key_shaped};
use transport::{Body, Method, Transport};
use url::encode;
use wire::Page;

/// How many keys one page asks for. Servers may cap it; paging follows `Page.Next` anyway.
const PAGE_SIZE: u32 = 100;
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

pub struct Client {
    transport: Transport,
}

impl Client {
    pub fn new(
        connection: &Connection,
        credential: Credential,
        console: Console,
    ) -> Result<Client> {
        Ok(Client {
            transport: Transport::new(connection, credential, console)?,
        })
    }

    pub fn credential(&self) -> &Credential {
        self.transport.credential()
    }

    pub fn server(&self) -> &ServerUrl {
        &self.transport.server
    }

    /// `GET /api/users/me`: the user the credential belongs to.
    pub fn me(&self) -> Result<User> {
        self.get("/api/users/me")
    }

    /// `GET /api/users/{id}`.
    pub fn user(&self, id: &str) -> Result<User> {
        self.get(&format!("/api/users/{}", encode(id)))
    }

    /// `GET /api/{space}/runbookRuns/{id}`: who started the run.
    pub fn runbook_run(&self, space_id: &str, run_id: &str) -> Result<RunbookRun> {
        self.get(&format!(
            "/api/{}/runbookRuns/{}",
            encode(space_id),
            encode(run_id)
        ))
    }

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
        if http.status != 404 || http.server_message.is_none() {
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

    /// Deletes every key `wanted` picks until an unfiltered listing finds none: keys shift
    /// between pages while other runs delete theirs, so one pass may miss one. Returns the
    /// keys deleted (and those already gone by then).
    pub fn delete_all_api_keys(
        &self,
        owner: &str,
        partial_purpose: &str,
        wanted: impl Fn(&ApiKeyInfo) -> bool,
    ) -> Result<Vec<(ApiKeyInfo, Deleted)>> {
        let mut done = Vec::new();
        let mut filter = partial_purpose;
        for _ in 0..MAX_PASSES {
            let keys: Vec<_> = self
                .list_api_keys(owner, filter)?
                .into_iter()
                .filter(&wanted)
                .filter(|key| {
                    !done
                        .iter()
                        .any(|(d, _): &(ApiKeyInfo, Deleted)| d.id == key.id)
                })
                .collect();
            if keys.is_empty() && filter.is_empty() {
                return Ok(done);
            }
            for key in keys {
                let deleted = self.delete_api_key(owner, &key.id)?;
                done.push((key, deleted));
            }
            filter = "";
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

    /// Every item of a paged collection: `path_at(skip)` is the path of the page starting at
    /// `skip`. Paging follows `Page.Next` (only on this server), and completes a listing
    /// whose page lacks the link while `TotalResults` counts more.
    pub(crate) fn all_pages<T: DeserializeOwned>(
        &self,
        label: &str,
        path_at: impl Fn(usize) -> String,
    ) -> Result<Vec<T>> {
        let mut next = Some(self.server().url(&path_at(0)));
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.clone()) {
                bail!(
                    "{label}: the server's Page.Next link repeats a page ({url}); the listing cannot be completed"
                );
            }
            let reply = self.transport.exchange(Method::Get, &url, label, None)?;
            let page: Page<T> = self.decode(label, &reply.body)?;
            if page.items.is_empty() {
                break;
            }
            items.extend(page.items);
            if let Some(Some(link)) = page.links.get("Page.Next") {
                next = Some(self.server().resolve_link(link).ok_or_else(|| {
                    anyhow!(
                        "{label}: the server's Page.Next link points at another server ({link}); refusing to send the credential there"
                    )
                })?);
            } else if page.total_results.is_some_and(|total| items.len() < total) {
                // A page without Page.Next while the server counts more: trust the count.
                next = Some(self.server().url(&path_at(items.len())));
            }
        }
        Ok(items)
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
    ) -> Result<Created> {
        let path = format!("/api/users/{}/apikeys", encode(owner));
        let label = format!("POST {path}");
        let body = serde_json::to_vec(&serde_json::json!({
            "Purpose": purpose,
            "Expires": format_expires(expires),
            "UserId": owner,
        }))?;
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

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let label = format!("GET {}", path.split('?').next().unwrap_or(path));
        let reply = self
            .transport
            .exchange(Method::Get, &self.server().url(path), &label, None)?;
        self.decode(&label, &reply.body)
    }

    fn decode<T: DeserializeOwned>(&self, label: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| {
            anyhow!(
                "{label}: the server's answer is not the JSON Octopus sends ({e}); check that {} is an Octopus Server",
                self.server().base()
            )
        })
    }
}
