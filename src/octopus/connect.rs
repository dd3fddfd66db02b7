//! A client for a run: with a credential as given, or for the broker, whose OIDC JWT is
//! first exchanged for an access token. Keys crossing the network in clear text are warned
//! about once, here.

use anyhow::Result;

use super::client::Client;
use super::connection::Connection;
use crate::console::Console;
use crate::credential::{Broker, Credential, Origin, Role, Scheme};

/// The broker's client: with its key or token as given, or with the access token that the
/// step's OIDC JWT is exchanged for.
pub fn broker(connection: &Connection, broker: &Broker, console: &Console) -> Result<Client> {
    match broker {
        Broker::Ready(credential) => with(connection, credential.clone(), console),
        Broker::Oidc { jwt, audience } => {
            let anonymous = with(connection, Credential::anonymous(), console)?;
            let token = anonymous.exchange_oidc_token(jwt, audience)?;
            Client::new(
                connection,
                Credential::new(
                    token.token,
                    Scheme::Bearer,
                    Role::Broker,
                    Origin::OidcExchange,
                )
                .with_expiry(token.expires),
                *console,
            )
        }
    }
}

/// The client for this run, with a warning first when keys would cross the network in
/// clear text.
pub fn with(connection: &Connection, credential: Credential, console: &Console) -> Result<Client> {
    warn_if_insecure(connection, console);
    Client::new(connection, credential, *console)
}

/// Warns when `connection` sends keys in clear text to another machine.
pub fn warn_if_insecure(connection: &Connection, console: &Console) {
    if connection.server.is_insecure() {
        console.warn(&format!(
            "{} uses plain http:// to another machine: API keys cross the network in clear text; use https://",
            connection.server.base()
        ));
    }
}
