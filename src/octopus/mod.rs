//! The Octopus REST client. `client` holds the connection and credential, and each
//! resource has a file of its own (`api_keys`, `users`, `tasks`, `events`, `oidc`, `setup`);
//! under them `transport` sends and retries, `connection` says how to reach the server,
//! `url` builds and checks addresses, `wire` holds what Octopus sends, and `errors` turns a
//! failure into one line and reads Octopus's error bodies. The client takes values (a
//! [`Connection`], a [`Credential`](crate::credential::Credential), the console); it never
//! reads the environment.

pub mod api_keys;
pub mod authentication;
pub mod client;
pub mod connect;
pub mod connection;
pub mod errors;
pub mod events;
pub mod oidc;
pub mod setup;
pub mod tasks;
pub mod transport;
pub mod url;
pub mod users;
pub mod wire;

pub use api_keys::{Created, Deleted, READ_ONLY};
pub use client::Client;
pub use connection::{Connection, MAX_RETRY_AFTER, ProxySetting};
pub use errors::{HttpError, Sent, TransportError, status_of};
pub use url::{ServerUrl, UrlProblem};
pub use wire::{
    ApiKeyInfo, CreatedKey, LastUsed, RunbookRun, User, format_expires, parse_timestamp, utc,
};
