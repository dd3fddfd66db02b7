//! Server-wide documents that carry no state of their own: the authentication settings
//! (the key expiry defaults a client can read before it asks).

use serde_json::json;

use crate::http::Response;
use crate::state::State;

pub(crate) fn authentication(state: &State) -> Response {
    Response::json(
        200,
        &json!({
            "ApiKeyDefaultExpiryDays": state.options.default_expiry_days,
            "ApiKeyMaxExpiryDays": state.options.max_expiry_days,
            "AnyAuthenticationProvidersSupportPasswordManagement": true,
            "Links": {"Self": "/api/authentication"},
        }),
    )
}
