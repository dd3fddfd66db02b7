//! The credentials a step gives: the broker's (an API key, an access token, or an OIDC JWT
//! with its audience) and the run key, each checked for its shape so that a mis-wired
//! parameter is a usage error that never shows the value.

use anyhow::Result;

use super::env::*;
use crate::credential::{Broker, Credential, Origin, Role, Scheme, is_key_shaped};
use crate::exit::usage;
use crate::octopus::oidc;
use crate::secret::Secret;

/// The broker's credential: `OCTOPUS_API_KEY`, else `OCTOPUS_ACCESS_TOKEN`, else an OIDC
/// JWT with its audience.
pub fn broker_credential(env: &Env) -> Result<Option<Broker>> {
    if let Some(key) = env.get(OCTOPUS_API_KEY) {
        check_key_shape(OCTOPUS_API_KEY, key)?;
        return Ok(Some(Broker::Ready(Credential::new(
            Secret::credential(key),
            Scheme::ApiKey,
            Role::Broker,
            Origin::Variable(OCTOPUS_API_KEY.name),
        ))));
    }
    if let Some(token) = env.get(OCTOPUS_ACCESS_TOKEN) {
        return Ok(Some(Broker::Ready(Credential::new(
            Secret::credential(token),
            Scheme::Bearer,
            Role::Broker,
            Origin::Variable(OCTOPUS_ACCESS_TOKEN.name),
        ))));
    }
    let Some(jwt) = env.get(RUNKEY_OIDC_JWT) else {
        return Ok(None);
    };
    if oidc::claims(jwt).is_none() {
        return Err(usage(format!(
            "{} does not hold a JWT (three dot-separated base64url parts): map it from {} in the step",
            RUNKEY_OIDC_JWT.name, RUNKEY_OIDC_JWT.source
        )));
    }
    let audience = env.get_string(RUNKEY_OIDC_AUDIENCE).ok_or_else(|| {
        env.missing(
            RUNKEY_OIDC_AUDIENCE,
            " (the broker service account's OIDC audience: its external id, a GUID)",
        )
    })?;
    Ok(Some(Broker::Oidc {
        jwt: Secret::credential(jwt),
        audience,
    }))
}

pub fn require_broker_credential(env: &Env) -> Result<Broker> {
    broker_credential(env)?.ok_or_else(|| {
        env.missing(
            OCTOPUS_API_KEY,
            " (or set OCTOPUS_ACCESS_TOKEN to an access token of that account, or RUNKEY_OIDC_JWT and RUNKEY_OIDC_AUDIENCE from a Generic OIDC account)",
        )
    })
}

/// The run key handed on by the create step.
pub fn run_key(env: &Env) -> Result<Option<Credential>> {
    env.get(RUNKEY_API_KEY)
        .map(|key| {
            check_key_shape(RUNKEY_API_KEY, key)?;
            Ok(Credential::new(
                Secret::credential(key),
                Scheme::ApiKey,
                Role::RunKey,
                Origin::Variable(RUNKEY_API_KEY.name),
            ))
        })
        .transpose()
}

/// Catching a value of the wrong shape here turns a mis-wired parameter into a clear usage
/// error instead of a 401 (the value is not shown).
fn check_key_shape(var: Var, key: &str) -> Result<()> {
    if is_key_shaped(key) {
        Ok(())
    } else {
        Err(usage(format!(
            "{} does not hold an Octopus API key (API- followed by capital letters and digits): map it from {} in the step",
            var.name, var.source
        )))
    }
}
