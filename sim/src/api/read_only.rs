//! A read-only API key reads and never changes anything: every change it asks for (any
//! method but GET) is refused with Octopus's 403, naming the permission the change would
//! have needed, before any handler sees it; deleting the key itself included. The
//! permission each change needs is the one its handler checks; changes to a user's own API
//! keys and OIDC identities, which a full key of that user makes without any, are named
//! `UserEdit`, what the same change needs for another user.

use crate::api::path;
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::AccessLevel;
use crate::render::forbidden_read_only;

/// The 403 for a change asked with a read-only key; `None` for a read, a full key, or a
/// path the API does not serve (answered 404 or 405 as for anyone).
pub(super) fn refusal(actor: &Actor, request: &Request) -> Option<Response> {
    if actor.access_level != AccessLevel::ReadOnly || request.method == "GET" {
        return None;
    }
    needed(&request.method, &path::segments(request.path())).map(forbidden_read_only)
}

/// The permission a change (`method` on `segments`) needs, by the resource it changes.
fn needed(method: &str, segments: &[&str]) -> Option<&'static str> {
    let by_method = |create: &'static str, edit: &'static str, delete: &'static str| match method {
        "POST" => Some(create),
        "PUT" => Some(edit),
        "DELETE" => Some(delete),
        _ => None,
    };
    match segments {
        ["api", "users", ..] | ["api", "serviceaccounts", ..] => Some("UserEdit"),
        ["api", "scopeduserroles", ..] => Some("TeamEdit"),
        ["api", "teams", ..] => by_method("TeamCreate", "TeamEdit", "TeamDelete"),
        ["api", _space, kind, ..] => {
            let kind = kind.to_ascii_lowercase();
            match kind.as_str() {
                "machines" => Some("MachineEdit"),
                "packages" => Some("BuiltInFeedPush"),
                "actiontemplates" => by_method(
                    "ActionTemplateCreate",
                    "ActionTemplateEdit",
                    "ActionTemplateDelete",
                ),
                "teams" => by_method("TeamCreate", "TeamEdit", "TeamDelete"),
                "scopeduserroles" => Some("TeamEdit"),
                "accounts" => by_method("AccountCreate", "AccountEdit", "AccountDelete"),
                "runbooks" | "runbookprocesses" | "runbooksnapshots" => Some("RunbookEdit"),
                "projecttriggers" => by_method("TriggerCreate", "TriggerEdit", "TriggerDelete"),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::needed;

    #[test]
    fn each_change_names_the_permission_its_handler_checks() {
        let needs = |method: &str, path: &str| {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            needed(method, &segments)
        };
        assert_eq!(
            needs("DELETE", "/api/users/Users-2/apikeys/apikeys-x"),
            Some("UserEdit")
        );
        assert_eq!(
            needs("PUT", "/api/Spaces-1/projecttriggers/ProjectTriggers-1"),
            Some("TriggerEdit")
        );
        assert_eq!(
            needs("DELETE", "/api/Spaces-1/ActionTemplates/ActionTemplates-1"),
            Some("ActionTemplateDelete")
        );
        assert_eq!(
            needs("POST", "/api/Spaces-1/runbookSnapshots"),
            Some("RunbookEdit")
        );
        assert_eq!(needs("DELETE", "/api/teams/Teams-1"), Some("TeamDelete"));
        assert_eq!(needs("POST", "/api/Spaces-1/nothing"), None);
    }
}
