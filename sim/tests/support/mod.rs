//! What the simulator's own tests share: one request to it as any client would send it
//! (with an API key or an access token, a JSON body when there is one, or with no
//! credential at all), the OIDC token exchange, and a key of the broker made over the API
//! with the expiry a test asks for.

use jiff::SignedDuration;
use octopus_sim::Fixture;
use serde_json::{Value, json};

/// One request with `key` as `X-Octopus-ApiKey`: GET and DELETE without a body, PUT of
/// `body`, any other method a POST of `body` (`{}` when none). Returns the status and the
/// body as JSON (null when it is not JSON), whatever the status.
pub fn request(
    f: &Fixture,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    send(f, method, path, ("X-Octopus-ApiKey", key.to_string()), body)
}

/// [`request`] with an OIDC access token as `Authorization: Bearer <token>`.
pub fn request_bearer(
    f: &Fixture,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    send(
        f,
        method,
        path,
        ("Authorization", format!("Bearer {token}")),
        body,
    )
}

fn send(
    f: &Fixture,
    method: &str,
    path: &str,
    (name, value): (&str, String),
    body: Option<Value>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", f.sim.url());
    let result = match (method, body) {
        ("GET", _) => agent.get(&url).header(name, &value).call(),
        ("DELETE", _) => agent.delete(&url).header(name, &value).call(),
        ("PUT", body) => agent
            .put(&url)
            .header(name, &value)
            .content_type("application/json")
            .send(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
        (_, body) => agent
            .post(&url)
            .header(name, &value)
            .content_type("application/json")
            .send(serde_json::to_vec(&body.unwrap_or(json!({}))).unwrap()),
    };
    let mut response = result.unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The OIDC token exchange (`POST /api/token/v1`, form-encoded) of `jwt` for `audience`,
/// without any credential: (status, body).
pub fn exchange(f: &Fixture, jwt: &str, audience: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("{}/api/token/v1", f.sim.url()))
        .send_form([
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("audience", audience),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("subject_token", jwt),
        ])
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `GET path` without any credential: (status, body as JSON, null when it is not JSON).
pub fn get_anonymous(f: &Fixture, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(&format!("{}{path}", f.sim.url())).call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `GET /api/users/me` with `key`, as a later step's script would: (status, body).
pub fn call_me(f: &Fixture, key: &str) -> (u16, Value) {
    request(f, "GET", "/api/users/me", key, None)
}

/// Creates a key for the broker asking for `Expires` in `hours`: (status, answer).
pub fn create_expiring_in(f: &Fixture, hours: i64) -> (u16, Value) {
    let expires = octopus_sim::octopus_date(f.sim.now() + SignedDuration::from_hours(hours));
    request(
        f,
        "POST",
        &format!("/api/users/{}/apikeys", f.broker_id),
        &f.broker_key,
        Some(json!({"Purpose": "p", "Expires": expires, "UserId": f.broker_id})),
    )
}

/// A key of the usual cast's administrator, who holds what `setup` needs.
pub fn admin_key(f: &Fixture) -> String {
    f.sim.add_api_key(&f.admin_id, "admin", None).1
}
