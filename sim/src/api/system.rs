//! Server-wide documents that carry no state of their own: the authentication settings
//! (`GET /api/authentication`, anonymous as on the real server, where it drives the login
//! page): the key expiry defaults a client can read before it asks, and whether users may
//! make API keys. A server older than the document answers 404.

use serde_json::json;

use crate::http::Response;
use crate::render::not_found;
use crate::state::State;

pub(crate) fn authentication(state: &State) -> Response {
    let options = &state.options;
    if !options.authentication_endpoint {
        return not_found("/api/authentication");
    }
    Response::json(
        200,
        &json!({
            "ApiKeyDefaultExpiryDays": options.default_expiry_days,
            "ApiKeyMaxExpiryDays": options.max_expiry_days,
            "UserApiKeysEnabled": options.user_api_keys_enabled,
            "AnyAuthenticationProvidersSupportPasswordManagement": true,
            "AutoLoginEnabled": false,
            "AuthenticationProviders": [],
            "Links": {"Self": "/api/authentication"},
        }),
    )
}
