//! Who is calling: the `X-Octopus-ApiKey` header or an OIDC bearer access token, checked
//! against live keys, token expiry and whether the owning user is still active. Every
//! failure is the same 401, as on the real server.

use jiff::Timestamp;

use crate::http::{Request, Response};
use crate::model::{AccessLevel, User};
use crate::render::{http_date, unauthorized};
use crate::state::State;

/// Who made a request, once authenticated. A key acts with its user's permissions, within
/// its access level.
pub(crate) struct Actor {
    pub user: User,
    pub key_id: Option<String>,
    pub key_hint: Option<String>,
    /// What the audit log records as `IdentityEstablishedWith`.
    pub identity: String,
    /// The expiry of the key used, which caps the expiry of keys it creates.
    pub key_expires: Option<Timestamp>,
    /// The access level of the key used (an access token has full access).
    pub access_level: AccessLevel,
    /// The expiry of the access token used, which may cap the expiry of keys it creates
    /// (`Options::token_expiry_rule`).
    pub token_expires: Option<Timestamp>,
}

pub(crate) fn authenticate(
    state: &State,
    request: &Request,
    now: Timestamp,
) -> Result<Actor, Response> {
    if let Some(value) = request.header("X-Octopus-ApiKey") {
        let key = state
            .keys
            .iter()
            .find(|k| k.secret == value.trim())
            .ok_or_else(unauthorized)?;
        if key.is_expired_at(now) {
            return Err(unauthorized());
        }
        let user = state
            .user(&key.user_id)
            .filter(|u| u.is_active)
            .ok_or_else(unauthorized)?;
        return Ok(Actor {
            user: user.clone(),
            key_id: Some(key.id.clone()),
            key_hint: Some(key.hint()),
            identity: if state.options.identity_without_purpose {
                format!("API key {} created {}", key.hint(), http_date(key.created))
            } else {
                format!(
                    "API key '{}' created {}",
                    key.purpose,
                    http_date(key.created)
                )
            },
            key_expires: key.expires,
            access_level: key.access_level,
            token_expires: None,
        });
    }
    if let Some(token) = request
        .header("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let (_, user_id, token_expires) = state
            .tokens
            .iter()
            .find(|(t, _, expires)| t == token.trim() && *expires > now)
            .ok_or_else(unauthorized)?;
        let user = state
            .user(user_id)
            .filter(|u| u.is_active)
            .ok_or_else(unauthorized)?;
        return Ok(Actor {
            user: user.clone(),
            key_id: None,
            key_hint: None,
            identity: "OpenID Connect access token".to_string(),
            key_expires: None,
            access_level: AccessLevel::FullAccess,
            token_expires: Some(*token_expires),
        });
    }
    Err(unauthorized())
}
