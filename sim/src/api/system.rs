//! Server-wide documents that carry no state of their own: the spaces list and the
//! authentication settings (the key expiry defaults a client can read before it asks).

use serde_json::json;

use crate::http::{Request, Response};
use crate::render::{PageOf, paged};
use crate::state::State;

pub(crate) fn spaces(state: &State, request: &Request) -> Response {
    let spaces = vec![
        json!({"Id": "Spaces-1", "Name": "Default", "IsDefault": true, "Links": {"Self": "/api/spaces/Spaces-1"}}),
    ];
    paged(
        request,
        "Space",
        spaces,
        |space| space,
        state.options.max_take,
        PageOf {
            base: "/api/spaces",
            filters: &[],
            extra: &[],
        },
    )
}

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
