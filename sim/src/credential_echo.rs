//! A server (or a proxy in front of it) that quotes the credential a request presented in
//! its error messages: a 401 names the API key or access token it refused, and every other
//! error message has the credential appended. Real Octopus does not do this; it models the
//! buggy middlebox or server version a client must survive without printing the key it
//! reads back (`Options::echo_credentials`). The OIDC token exchange's own refusals quote
//! the JWT in the OIDC module, which knows the exchange's body.

use serde_json::Value;

use crate::http::{Request, Response};

/// What the request presented: ("API key", key) or ("access token", token).
fn presented(request: &Request) -> Option<(&'static str, String)> {
    if let Some(key) = request
        .header("X-Octopus-ApiKey")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Some(("API key", key.to_string()));
    }
    request
        .header("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|token| ("access token", token.to_string()))
}

/// `response` with the credential of `request` quoted in its Octopus error body, when it
/// is an error with such a body and the request presented a credential.
pub(crate) fn echo(request: &Request, mut response: Response) -> Response {
    if response.status < 400 {
        return response;
    }
    let Some((kind, credential)) = presented(request) else {
        return response;
    };
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
        return response;
    };
    let Some(message) = body.get("ErrorMessage").and_then(Value::as_str) else {
        return response;
    };
    let quoted = |text: &str| format!("{text} (the request presented {kind} {credential})");
    if response.status == 401 {
        let message = format!("The {kind} {credential} is not valid, or it has expired.");
        body["ErrorMessage"] = Value::String(message.clone());
        body["Errors"] = Value::Array(vec![Value::String(message)]);
    } else {
        body["ErrorMessage"] = Value::String(quoted(message));
        if let Some(errors) = body.get_mut("Errors").and_then(Value::as_array_mut) {
            for error in errors.iter_mut() {
                if let Some(text) = error.as_str() {
                    *error = Value::String(quoted(text));
                }
            }
        }
    }
    response.body = serde_json::to_vec_pretty(&body).expect("JSON values serialise");
    response
}
