//! The client: one pooled connection with one credential, and what every resource file
//! builds on: a GET decoded from JSON, and the items of a paged collection. The endpoints
//! live in one file per resource (`api_keys`, `users`, `tasks`, `events`, `oidc`, `setup`),
//! each adding its methods to [`Client`].

use std::collections::HashSet;

use anyhow::{Result, anyhow, bail};
use serde::de::DeserializeOwned;

use super::connection::Connection;
use super::transport::{Method, Transport};
use super::url::ServerUrl;
use super::wire::Page;
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
    /// whose page lacks the link while `TotalResults` counts more.
    pub(super) fn all_pages<T: DeserializeOwned>(
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
}
