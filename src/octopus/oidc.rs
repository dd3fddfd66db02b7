//! OpenID Connect: the broker without a stored secret. A step that references a Generic
//! OIDC account gets an Octopus-signed JWT; the server's own discovery document names its
//! token endpoint, where the JWT is exchanged (RFC 8693) for a one-hour access token of the
//! service account whose OIDC identity trusts that JWT. Both requests are anonymous. The JWT
//! and the access token are secrets: they appear in no message, only the JWT's subject and
//! audience do, which say what the service account's identity must match.

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use jiff::Timestamp;
use serde::Deserialize;

use super::client::Client;
use super::errors::HttpError;
use super::transport::{Body, Method};
use super::url::encode;
use crate::secret::Secret;

const DISCOVERY: &str = "/.well-known/openid-configuration";

/// The JWT's claims that messages may show (none of them is a secret).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Claims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
}

/// Reads a JWT's claims without checking its signature (the server does that): enough to
/// say which subject was sent, and that it expired.
pub fn claims(jwt: &str) -> Option<Claims> {
    let mut parts = jwt.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[derive(Deserialize)]
struct Discovery {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<Secret>,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds the token lives (an hour on Octopus).
    #[serde(default)]
    expires_in: Option<u64>,
}

/// An access token from the exchange, and when it ends (when the server said).
pub struct AccessToken {
    pub token: Secret,
    pub expires: Option<Timestamp>,
}

#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl Client {
    /// Exchanges the step's JWT for the broker's access token. `self` is an anonymous
    /// client of the server.
    pub fn exchange_oidc_token(&self, jwt: &Secret, audience: &str) -> Result<AccessToken> {
        let claims = claims(jwt.expose()).unwrap_or_default();
        if let Some(exp) = claims.exp
            && exp <= Timestamp::now().as_second()
        {
            bail!(
                "the OIDC token in RUNKEY_OIDC_JWT expired at {}: Octopus issues a fresh one for every step, so map RUNKEY_OIDC_JWT from the account's OpenIdConnect.Jwt in this step, and check the worker's clock",
                Timestamp::from_second(exp).map_or_else(|_| exp.to_string(), super::utc)
            );
        }
        let discovery: Discovery = match self.get(DISCOVERY) {
            Ok(discovery) => discovery,
            Err(e) if super::status_of(&e) == Some(404) => bail!(
                "{} has no OpenID Connect discovery document (GET {DISCOVERY} answered 404): OIDC for service accounts needs Octopus 2025.1 or later; on an older server give the broker's API key in OCTOPUS_API_KEY",
                self.server().base()
            ),
            Err(e) => {
                return Err(e.context("reading the server's OpenID Connect discovery document"));
            }
        };
        let endpoint = discovery.token_endpoint.ok_or_else(|| {
            anyhow!(
                "GET {DISCOVERY}: the discovery document names no token_endpoint: check that {} is an Octopus Server of 2025.1 or later",
                self.server().base()
            )
        })?;
        let url = self.server().resolve_link(&endpoint).ok_or_else(|| {
            anyhow!(
                "GET {DISCOVERY}: the token endpoint {endpoint} is on another server, so the OIDC token is not sent there: set OCTOPUS_URL to the address the server publishes"
            )
        })?;
        let form = format!(
            "grant_type={}&audience={}&subject_token_type={}&subject_token={}",
            encode("urn:ietf:params:oauth:grant-type:token-exchange"),
            encode(audience),
            encode("urn:ietf:params:oauth:token-type:jwt"),
            encode(jwt.expose())
        );
        let label = "POST the OIDC token exchange";
        let reply =
            self.transport
                .exchange(Method::Post, &url, label, Some(Body::form(form.as_bytes())));
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                let Some(http) = e.downcast_ref::<HttpError>() else {
                    return Err(e);
                };
                if !(400..500).contains(&http.status) {
                    return Err(e);
                }
                let refusal = serde_json::from_str::<OAuthError>(&http.body).ok();
                let why = refusal
                    .map(|r| {
                        format!(
                            "{}{}",
                            r.error.unwrap_or_else(|| format!("HTTP {}", http.status)),
                            r.error_description
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| http.to_string());
                let issuer = discovery
                    .issuer
                    .as_deref()
                    .or(claims.iss.as_deref())
                    .unwrap_or("this server");
                let reason = why.to_ascii_lowercase();
                let fix = if reason.contains("expired") {
                    "Octopus issues a fresh JWT for every step: map RUNKEY_OIDC_JWT in the step that runs octopus-runkey, and check the worker's clock".to_string()
                } else if reason.contains("signature") || reason.contains("issuer") {
                    format!(
                        "the JWT must be this server's own, from the Generic OIDC account's OpenIdConnect.Jwt, and the broker's OIDC identity must trust the issuer {issuer}"
                    )
                } else {
                    let looks_like_a_user = if audience.to_ascii_lowercase().starts_with("users-") {
                        " ('Users-N' is the account's id, not its audience)"
                    } else {
                        ""
                    };
                    format!(
                        "the broker service account needs an OIDC identity with issuer {issuer} and a subject matching '{}', and RUNKEY_OIDC_AUDIENCE ('{audience}') must be that identity's audience, the service account's external id (a GUID shown in its OpenID Connect section){looks_like_a_user}",
                        claims
                            .sub
                            .as_deref()
                            .unwrap_or("(the JWT names no subject)")
                    )
                };
                bail!("the server refused to exchange the OIDC token ({why}): {fix}");
            }
        };
        let answer: TokenAnswer = serde_json::from_str(&reply.body).map_err(|_| {
            anyhow!("{label}: the answer is not a token (no JSON with access_token)")
        })?;
        match answer.access_token {
            Some(token)
                if !token.expose().is_empty()
                    && answer
                        .token_type
                        .as_deref()
                        .is_none_or(|t| t.eq_ignore_ascii_case("bearer")) =>
            {
                let expires = answer.expires_in.and_then(|secs| {
                    Timestamp::now()
                        .checked_add(jiff::SignedDuration::from_secs(i64::try_from(secs).ok()?))
                        .ok()
                });
                Ok(AccessToken { token, expires })
            }
            _ => bail!("{label}: the answer holds no bearer access_token"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_payload_without_the_signature() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"sub":"space:default:project:web","iss":"https://o.example","exp":42,"aud":"x"}"#,
        );
        let jwt = format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        let claims = claims(&jwt).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("space:default:project:web"));
        assert_eq!(claims.exp, Some(42));
        assert_eq!(super::claims("not-a-jwt"), None);
        assert_eq!(super::claims("a.b.c.d"), None);
    }
}
