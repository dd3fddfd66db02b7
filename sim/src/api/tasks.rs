//! Server tasks, read by id (system-wide or under a space) for their state: whether the run
//! is still going, and how it ended. Needs `TaskView`.

use crate::auth::Actor;
use crate::http::Response;
use crate::render::{forbidden, not_found, task_json};
use crate::state::State;

/// `space` is the space in the path, if the request named one.
pub(crate) fn one(state: &State, actor: &Actor, space: Option<&str>, task_id: &str) -> Response {
    if !actor.user.has_permission("TaskView") {
        return forbidden("TaskView");
    }
    let Some(task) = state
        .tasks
        .iter()
        .find(|t| t.id == task_id && space.is_none_or(|s| s == t.space_id))
    else {
        return not_found(task_id);
    };
    Response::json(200, &task_json(task))
}
