//! The server's OpenID Connect side. Anonymous: the discovery document
//! (`/.well-known/openid-configuration`), the JWKS (`/.well-known/jwks`) and the token
//! endpoint (`POST /api/token/v1`, RFC 8693 token exchange), which checks the JWT's
//! signature, issuer, expiry, audience and subject against the service accounts' OIDC
//! identities and issues a bearer access token that lives `Options::access_token_lifetime`
//! (one hour by default, as Octopus documents). A token exchange changes nothing,
//! so it leaves no audit event. Authenticated: a service account's OIDC identities, listed
//! (`GET /api/serviceaccounts/{id}/oidcidentities/v1`), created
//! (`POST .../oidcidentities/create/v1`) and deleted (`DELETE .../{identityId}/v1`).

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response, decode};
use crate::model::OidcIdentity;
use crate::oidc::{Refusal, wildcard_match};
use crate::render::{DEFAULT_TAKE, forbidden, invalid, method_not_allowed, not_found};
use crate::state::State;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks";
pub(crate) const TOKEN_PATH: &str = "/api/token/v1";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The answer to one of the anonymous OIDC requests, or `None` when `request` is not one.
pub(crate) fn anonymous(state: &mut State, request: &Request, now: Timestamp) -> Option<Response> {
    let path = request.path().trim_end_matches('/');
    let ours = matches!(
        (request.method.as_str(), path),
        ("GET", DISCOVERY_PATH) | ("GET", JWKS_PATH) | ("POST", TOKEN_PATH)
    );
    if !ours {
        return None;
    }
    if !state.options.oidc_discovery {
        // A server before 2025.1 knows none of these.
        return Some(not_found(path));
    }
    Some(match path {
        DISCOVERY_PATH => Response::json(200, &discovery(&state.url)),
        JWKS_PATH => Response::json(200, &json!({"keys": [state.signing_key.jwk()]})),
        _ => {
            let response = exchange(state, request, now);
            if state.options.echo_credentials && response.status == 400 {
                quote_subject_token(request, response)
            } else {
                response
            }
        }
    })
}

/// A refusal whose `error_description` quotes the whole `subject_token` sent, as a buggy
/// server might (`Options::echo_credentials`).
fn quote_subject_token(request: &Request, mut response: Response) -> Response {
    let token = fields(request).and_then(|fields| {
        fields
            .into_iter()
            .find(|(k, v)| k == "subject_token" && !v.trim().is_empty())
            .map(|(_, v)| v)
    });
    let (Some(token), Ok(mut body)) = (token, serde_json::from_slice::<Value>(&response.body))
    else {
        return response;
    };
    let description = body["error_description"].as_str().unwrap_or("").to_string();
    body["error_description"] =
        Value::String(format!("{description} The subject_token was: {token}"));
    response.body = serde_json::to_vec_pretty(&body).expect("JSON values serialise");
    response
}

fn discovery(url: &str) -> Value {
    json!({
        "issuer": url,
        "jwks_uri": format!("{url}{JWKS_PATH}"),
        "token_endpoint": format!("{url}{TOKEN_PATH}"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "grant_types_supported": [TOKEN_EXCHANGE],
    })
}

/// Octopus's refusal of an exchange: 400 with an OAuth error body.
fn refuse(description: &str) -> Response {
    Response::json(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

/// The fields of the exchange's body: form-encoded, or a JSON object of strings.
fn fields(request: &Request) -> Option<Vec<(String, String)>> {
    let is_json = request
        .header("Content-Type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if is_json {
        let body: Value = serde_json::from_slice(&request.body).ok()?;
        return Some(
            body.as_object()?
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
        );
    }
    let body = std::str::from_utf8(&request.body).ok()?;
    Some(
        body.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect(),
    )
}

fn exchange(state: &mut State, request: &Request, now: Timestamp) -> Response {
    let Some(fields) = fields(request) else {
        return refuse("The request body could not be read.");
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if field("grant_type").as_deref() != Some(TOKEN_EXCHANGE) {
        return refuse(&format!("The grant_type must be '{TOKEN_EXCHANGE}'."));
    }
    if field("subject_token_type").as_deref() != Some(JWT_TYPE) {
        return refuse(&format!("The subject_token_type must be '{JWT_TYPE}'."));
    }
    let Some(audience) = field("audience") else {
        return refuse("The audience is required.");
    };
    let Some(token) = field("subject_token") else {
        return refuse("The subject_token is required.");
    };
    // The issuer is read first (unverified), to know whose keys verify the signature.
    let Some(unverified) = unverified_claims(&token) else {
        return refuse("The subject token is not a valid JWT.");
    };
    let issuer = unverified["iss"].as_str().unwrap_or("").to_string();
    if issuer != state.url {
        // The simulator can reach no other issuer's keys; no identity it holds trusts one.
        return refuse(&format!(
            "No OIDC identity trusts the issuer '{issuer}' of the subject token."
        ));
    }
    let claims = match state.signing_key.verify(&token) {
        Ok(claims) => claims,
        Err(Refusal::Malformed) => return refuse("The subject token is not a valid JWT."),
        Err(Refusal::Signature) => {
            return refuse("The signature of the subject token could not be validated.");
        }
    };
    let now_secs = now.as_second();
    match claims["exp"].as_i64() {
        Some(exp) if exp > now_secs => {}
        Some(_) => return refuse("The subject token has expired."),
        None => return refuse("The subject token has no expiry."),
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| nbf > now_secs + 60)
    {
        return refuse("The subject token is not valid yet.");
    }
    let subject = claims["sub"].as_str().unwrap_or("").to_string();
    let token_audiences: Vec<&str> = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !token_audiences.contains(&audience.as_str()) {
        return refuse("The audience of the subject token does not match the requested audience.");
    }
    // The identities the requested audience names: their own audience, or by default the
    // external id of their service account.
    let candidates: Vec<OidcIdentity> = state
        .oidc_identities
        .iter()
        .filter(|identity| {
            let expected = identity.audience.clone().or_else(|| {
                state
                    .external_ids
                    .iter()
                    .find(|(user, _)| *user == identity.service_account_id)
                    .map(|(_, id)| id.clone())
            });
            expected.as_deref() == Some(audience.as_str())
        })
        .cloned()
        .collect();
    if candidates.is_empty() {
        return refuse(&format!(
            "No service account has an OIDC identity with the audience '{audience}'."
        ));
    }
    let Some(identity) = candidates
        .iter()
        .find(|i| i.issuer == issuer && wildcard_match(&i.subject, &subject))
    else {
        return refuse(&format!(
            "No OIDC identity of the service account matches the issuer and subject '{subject}' of the subject token."
        ));
    };
    let active = state
        .user(&identity.service_account_id)
        .is_some_and(|u| u.is_active && u.is_service);
    if !active {
        return refuse("The service account is disabled.");
    }
    let lifetime = state.options.access_token_lifetime;
    let expires = now + lifetime;
    let access_token = state.insert_token(&identity.service_account_id, expires);
    Response::json(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "expires_in": lifetime.as_secs(),
        }),
    )
}

/// The payload of a compact JWS, not verified.
fn unverified_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

pub(crate) fn identity_json(identity: &OidcIdentity) -> Value {
    json!({
        "Id": identity.id,
        "Name": identity.name,
        "Issuer": identity.issuer,
        "Subject": identity.subject,
        "Audience": identity.audience,
        "ServiceAccountId": identity.service_account_id,
    })
}

/// `/api/serviceaccounts/{id}/oidcidentities/...`; `rest` is what follows `oidcidentities`.
/// Reading needs `UserView`, creating and deleting `UserEdit`: the permissions a real
/// server asks for editing a user are the plausible ones, but no public source names them.
pub(crate) fn identities(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    user_id: &str,
    rest: &[&str],
) -> Answer {
    let Some(account) = state.user(user_id).cloned() else {
        return done(not_found(user_id));
    };
    match (request.method.as_str(), rest) {
        ("GET", ["v1"]) => {
            if !actor.user.has_permission("UserView") {
                return done(forbidden("UserView"));
            }
            if !account.is_service {
                return done(invalid(&format!(
                    "{} is not a service account.",
                    account.id
                )));
            }
            let skip: usize = request
                .query("skip")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let take: usize = request
                .query("take")
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_TAKE);
            let external_id = state.external_id(&account.id);
            let mine: Vec<&OidcIdentity> = state
                .oidc_identities
                .iter()
                .filter(|i| i.service_account_id == account.id)
                .collect();
            let page: Vec<Value> = mine
                .iter()
                .skip(skip)
                .take(take)
                .map(|i| identity_json(i))
                .collect();
            done(Response::json(
                200,
                &json!({
                    "ServerUrl": state.url,
                    "ExternalId": external_id,
                    "OidcIdentities": page,
                    "Count": mine.len(),
                }),
            ))
        }
        ("POST", ["create", "v1"]) => {
            if !actor.user.has_permission("UserEdit") {
                return done(forbidden("UserEdit"));
            }
            create(state, request, &account)
        }
        ("DELETE", [identity_id, "v1"]) => {
            if !actor.user.has_permission("UserEdit") {
                return done(forbidden("UserEdit"));
            }
            delete(state, &account, identity_id)
        }
        _ => done(method_not_allowed()),
    }
}

fn create(state: &mut State, request: &Request, account: &crate::model::User) -> Answer {
    if !account.is_service {
        return done(invalid(&format!(
            "OIDC identities can only be added to service accounts; {} is not one.",
            account.id
        )));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return done(invalid("The request body is not valid JSON."));
    };
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    if let Some(id) = text("ServiceAccountId")
        && id != account.id
    {
        return done(invalid(
            "The ServiceAccountId in the body does not match the service account in the URL.",
        ));
    }
    let (Some(name), Some(issuer), Some(subject)) = (text("Name"), text("Issuer"), text("Subject"))
    else {
        return done(invalid("Please provide a Name, an Issuer and a Subject."));
    };
    let id = format!("OidcIdentities-{}", state.next());
    state.external_id(&account.id);
    state.oidc_identities.push(OidcIdentity {
        id: id.clone(),
        name: name.clone(),
        issuer,
        subject,
        audience: text("Audience"),
        service_account_id: account.id.clone(),
    });
    let change = Change {
        message: format!(
            "OIDC identity {name} was added to service account {}",
            account.username
        ),
        related_document_ids: vec![id.clone(), account.id.clone()],
    };
    (Response::json(201, &json!({"Id": id})), Some(change))
}

/// `DELETE .../oidcidentities/{identityId}/v1`: the service account no longer trusts tokens
/// matching that identity (an identity of another account is not found here).
fn delete(state: &mut State, account: &crate::model::User, identity_id: &str) -> Answer {
    let Some(index) = state
        .oidc_identities
        .iter()
        .position(|i| i.id == identity_id && i.service_account_id == account.id)
    else {
        return done(not_found(identity_id));
    };
    let identity = state.oidc_identities.remove(index);
    let change = Change {
        message: format!(
            "OIDC identity {} was removed from service account {}",
            identity.name, account.username
        ),
        related_document_ids: vec![identity.id, account.id.clone()],
    };
    (Response::json(200, &json!({})), Some(change))
}
