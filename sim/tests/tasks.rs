//! Server tasks: their states as Octopus names them, whether and when they completed, their
//! error text, where they are found (system-wide and in their space), and `TaskView`.

use octopus_sim::{Fixture, TaskState};

use crate::support::{create_expiring_in, request};

#[test]
fn tasks_report_their_state_and_whether_they_completed() {
    let f = Fixture::new();
    let run = f.sim.add_runbook_run(&f.space_id, Some(&f.operator_id));
    // A run key acts with the broker's permissions, TaskView among them.
    let (_, created) = create_expiring_in(&f, 1);
    let run_key = created["ApiKey"].as_str().unwrap().to_string();
    let path = format!("/api/tasks/{}", run.task_id);
    let (status, task) = request(&f, "GET", &path, &run_key, None);
    assert_eq!(status, 200);
    assert_eq!(
        (
            task["Id"].as_str(),
            task["State"].as_str(),
            task["SpaceId"].as_str()
        ),
        (
            Some(run.task_id.as_str()),
            Some("Executing"),
            Some("Spaces-1")
        )
    );
    assert_eq!(
        (
            task["IsCompleted"].as_bool(),
            task["CompletedTime"].is_null()
        ),
        (Some(false), true)
    );
    for field in [
        "FinishedSuccessfully",
        "ErrorMessage",
        "Name",
        "Description",
    ] {
        assert!(task.get(field).is_some(), "{field}");
    }
    for (state, completed, succeeded) in [
        (TaskState::Queued, false, false),
        (TaskState::Cancelling, false, false),
        (TaskState::Success, true, true),
        (TaskState::Failed, true, false),
        (TaskState::Canceled, true, false),
        (TaskState::TimedOut, true, false),
    ] {
        f.sim.set_task_state(&run.task_id, state);
        let (_, task) = request(&f, "GET", &path, &f.broker_key, None);
        assert_eq!(task["State"], state.as_str());
        assert_eq!(task["IsCompleted"], completed, "{state:?}");
        assert_eq!(task["FinishedSuccessfully"], succeeded, "{state:?}");
        assert_eq!(task["CompletedTime"].is_string(), completed, "{state:?}");
        assert_eq!(
            task["ErrorMessage"] != "",
            completed && !succeeded,
            "{state:?}"
        );
    }
    // Under its space too; another space does not have it.
    let (status, _) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/tasks/{}", run.task_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = request(
        &f,
        "GET",
        &format!("/api/Spaces-2/tasks/{}", run.task_id),
        &f.broker_key,
        None,
    );
    assert_eq!(status, 404);
    let id = f.sim.add_task(None, TaskState::Queued);
    let (_, task) = request(&f, "GET", &format!("/api/tasks/{id}"), &f.broker_key, None);
    assert_eq!(task["State"], "Queued");
    f.sim.add_task(Some("ServerTasks-77"), TaskState::Success);
    assert_eq!(
        f.sim.task("ServerTasks-77").unwrap().state,
        TaskState::Success
    );
}

#[test]
fn reading_a_task_needs_task_view() {
    let f = Fixture::new();
    let task = f.sim.add_task(Some("ServerTasks-5"), TaskState::Executing);
    let path = format!("/api/tasks/{task}");
    let (_, jane_key) = f.sim.add_api_key(&f.operator_id, "jane's", None);
    let missing = "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: TaskView";
    let (status, body) = request(&f, "GET", &path, &jane_key, None);
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (403, Some(missing))
    );
    f.sim.revoke_permission(&f.broker_id, "TaskView");
    let (status, body) = request(&f, "GET", &path, &f.broker_key, None);
    assert_eq!(
        (status, body["ErrorMessage"].as_str()),
        (403, Some(missing))
    );
    f.sim.grant_permission(&f.broker_id, "TaskView");
    assert_eq!(request(&f, "GET", &path, &f.broker_key, None).0, 200);
}
