//! The client: one pooled connection with one credential, and what every resource file
//! builds on: a GET decoded from JSON, and the items of a paged collection. The endpoints
//! live in one file per resource (`api_keys`, `users`, `tasks`, `events`, `oidc`, `setup`),
//! each adding its methods to [`Client`].

use std::collections::HashSet;

use anyhow::{Result, anyhow, bail};
use serde::de::DeserializeOwned;

use super::connection::Connection;
use super::transport::{Body, Method, Transport};
use super::url::ServerUrl;
use super::wire::Page;

/// The most pages, and items, one listing reads: far more than any real collection this
/// tool lists (a broker's keys, a week of its events), and a bound on time and memory when
/// a server or proxy never ends a listing.
pub const MAX_PAGES: usize = 1_000;
pub const MAX_ITEMS: usize = 50_000;
/// How many items one page of a listing asks for. Servers may cap it; paging follows
/// `Page.Next` anyway.
pub const PAGE_SIZE: u32 = 100;
use crate::console::Console;
use crate::credential::Credential;

pub struct Client {
    pub(super) transport: Transport,
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

    /// Every item of a paged collection: `path_at(skip)` is the path of the page starting at
    /// `skip`. Paging follows `Page.Next` (only on this server), and completes a listing
    /// whose page lacks the link while `TotalResults` counts more. Every listing ends: a
    /// page that links itself, a page of items already listed (a server or proxy that
    /// ignores `skip`), or more than [`MAX_PAGES`] pages or [`MAX_ITEMS`] items stop it with
    /// one line that names the request and what was wrong.
    pub(super) fn all_pages<T: DeserializeOwned>(
        &self,
        label: &str,
        path_at: impl Fn(usize) -> String,
    ) -> Result<Vec<T>> {
        let mut next = Some(self.server().url(&path_at(0)));
        let mut seen_urls = HashSet::new();
        let mut seen_ids = HashSet::new();
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            if !seen_urls.insert(url.clone()) {
                bail!(
                    "{label}: the server's Page.Next link repeats a page ({url}); the listing cannot be completed"
                );
            }
            pages += 1;
            if pages > MAX_PAGES || items.len() >= MAX_ITEMS {
                bail!(
                    "{label}: the listing did not end after {} pages and {} items (the server, or a proxy in front of it, keeps linking another page); check the server, or ask for less (audit --since)",
                    pages - 1,
                    items.len()
                );
            }
            let reply = self.transport.exchange(Method::Get, &url, label, None)?;
            let page: Page<serde_json::Value> = self.decode(label, &reply.body)?;
            if page.items.is_empty() {
                break;
            }
            // A page whose every item was listed already: the server ignores `skip`.
            let ids: Vec<Option<String>> = page
                .items
                .iter()
                .map(|item| {
                    item.get("Id")
                        .and_then(|id| id.as_str())
                        .map(str::to_string)
                })
                .collect();
            if ids
                .iter()
                .all(|id| id.as_ref().is_some_and(|id| seen_ids.contains(id)))
            {
                bail!(
                    "{label}: the server answered a page of items it had listed already ({url}): it ignores 'skip', or a proxy caches the first page; the listing cannot be completed"
                );
            }
            seen_ids.extend(ids.into_iter().flatten());
            for item in page.items {
                items.push(serde_json::from_value(item).map_err(|e| {
                    anyhow!(
                        "{label}: the server's answer is not the JSON Octopus sends ({e}); check that {} is an Octopus Server",
                        self.server().base()
                    )
                })?);
            }
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

    pub(super) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let label = format!("GET {}", path.split('?').next().unwrap_or(path));
        let reply = self
            .transport
            .exchange(Method::Get, &self.server().url(path), &label, None)?;
        self.decode(&label, &reply.body)
    }

    pub(super) fn decode<T: DeserializeOwned>(&self, label: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| {
            anyhow!(
                "{label}: the server's answer is not the JSON Octopus sends ({e}); check that {} is an Octopus Server",
                self.server().base()
            )
        })
    }

    /// A POST or PUT of `body` as JSON, its answer decoded.
    pub(super) fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
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

    /// A DELETE whose answer carries nothing the caller needs.
    pub(super) fn delete(&self, path: &str) -> Result<()> {
        let label = format!("DELETE {}", path.split('?').next().unwrap_or(path));
        self.transport
            .exchange(Method::Delete, &self.server().url(path), &label, None)?;
        Ok(())
    }
}
