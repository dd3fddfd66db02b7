//! Server tasks: `GET /api/tasks/{id}`, which tells the guard and the sweep whether a run is
//! over. Needs TaskView.

use anyhow::Result;
use serde::Deserialize;

use super::client::Client;
use super::url::encode;

/// A `TaskResource`, as far as the tool reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    pub id: String,
    /// `Queued`, `Executing`, `Failed`, `Canceled`, `TimedOut`, `Success` or `Cancelling`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub is_completed: Option<bool>,
}

impl Task {
    /// Whether the run is over: `IsCompleted`, or a final `State` when a server leaves
    /// `IsCompleted` out.
    pub fn is_over(&self) -> bool {
        self.is_completed.unwrap_or(false)
            || matches!(
                self.state.as_deref(),
                Some("Success" | "Failed" | "Canceled" | "TimedOut")
            )
    }
}

impl Client {
    /// `GET /api/tasks/{id}`.
    pub fn task(&self, id: &str) -> Result<Task> {
        self.get(&format!("/api/tasks/{}", encode(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(json: &str) -> Task {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_task_is_over_when_completed_or_in_a_final_state() {
        assert!(task(r#"{"Id":"ServerTasks-1","State":"Canceled","IsCompleted":true}"#).is_over());
        assert!(task(r#"{"Id":"ServerTasks-1","State":"TimedOut"}"#).is_over());
        assert!(task(r#"{"Id":"ServerTasks-1","State":"Success"}"#).is_over());
        assert!(task(r#"{"Id":"ServerTasks-1","State":"Failed"}"#).is_over());
        for running in ["Queued", "Executing", "Cancelling"] {
            let t = task(&format!(
                r#"{{"Id":"ServerTasks-1","State":"{running}","IsCompleted":false}}"#
            ));
            assert!(!t.is_over(), "{running}");
        }
    }
}
