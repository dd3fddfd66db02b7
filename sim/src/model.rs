//! The records the simulated server keeps: users and service accounts, their API keys (and
//! the access level each was made with), runbook runs and their server tasks, the audit
//! log and the request log. Tests read these back to see what a run
//! left behind.

use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub is_service: bool,
    pub is_active: bool,
    /// Permission names such as `UserView`, `UserEdit`, `RunbookRunView`.
    pub permissions: Vec<String>,
}

impl User {
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub purpose: String,
    /// The plaintext key. The server shows it once, in the answer to the POST.
    pub secret: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    /// When a request last authenticated with it (newer servers show it).
    pub last_used: Option<Timestamp>,
    /// What the key may do, chosen when it is made and never changed after.
    pub access_level: AccessLevel,
}

/// The access level of an API key (Octopus 2026.3): what a key may do of what its user may.
/// A key never has more permissions than its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLevel {
    /// Everything its user may do: every key made before access levels, and every key a
    /// server makes when it does not take an access level.
    #[default]
    FullAccess,
    /// Reads only: every change is refused with 403, deleting the key itself included.
    ReadOnly,
    /// Chosen roles in chosen spaces, projects and environments (the web portal's choice).
    /// The simulator does not model those roles: such a key acts with its user's
    /// permissions, as a full key would; it exists so that reads can show the level.
    Custom,
}

impl AccessLevel {
    /// The level as Octopus writes it in `AccessLevel`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::FullAccess => "FullAccess",
            AccessLevel::ReadOnly => "ReadOnly",
            AccessLevel::Custom => "Custom",
        }
    }

    /// The level Octopus's name `text` means (exactly as Octopus writes it).
    pub fn parse(text: &str) -> Option<AccessLevel> {
        [
            AccessLevel::FullAccess,
            AccessLevel::ReadOnly,
            AccessLevel::Custom,
        ]
        .into_iter()
        .find(|level| level.as_str() == text)
    }
}

impl ApiKey {
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// The first eight characters of the key, which Octopus shows in listings and events.
    pub fn hint(&self) -> String {
        self.secret.chars().take(8).collect()
    }
}

/// One entry of the audit log. Octopus records changes (creations, modifications,
/// deletions) and never reads; the "who" is the owner of the credential used, and the
/// purpose of the key used is only in `identity_established_with`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `Events-N`.
    pub id: String,
    /// Octopus's event category: `Created`, `Modified` or `Deleted`.
    pub category: String,
    pub occurred: Timestamp,
    pub user_id: String,
    pub username: String,
    pub is_service: bool,
    /// The `User-Agent` header of the request that made the change.
    pub user_agent: String,
    /// `METHOD /path`.
    pub action: String,
    pub status: u16,
    /// `API key '<Purpose>' created <RFC 1123 date>` for a key, `OpenID Connect access token`
    /// for a bearer token.
    pub identity_established_with: String,
    pub api_key_id: Option<String>,
    pub api_key_hint: Option<String>,
    /// What changed, in words, e.g. `User API key <purpose> (API-ABCD•••) for <user> was
    /// generated`.
    pub message: String,
    /// The documents the event is about: the key's id, then its user's.
    pub related_document_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub connection: usize,
    pub method: String,
    pub target: String,
    /// The status sent, or `None` when the connection was reset instead.
    pub status: Option<u16>,
    pub fault: Option<String>,
    /// Every request header, as received (tests look for leaked credentials here).
    pub headers: Vec<(String, String)>,
    /// The request body as received (lossily decoded as UTF-8), so tests can see what was
    /// sent, e.g. the `UserId` and `Expires` of a POST.
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct RunbookRun {
    pub id: String,
    pub space_id: String,
    pub task_id: String,
    pub deployed_by: Option<String>,
}

/// The state of a server task, as Octopus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Queued,
    Executing,
    Cancelling,
    Success,
    Failed,
    Canceled,
    TimedOut,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "Queued",
            TaskState::Executing => "Executing",
            TaskState::Cancelling => "Cancelling",
            TaskState::Success => "Success",
            TaskState::Failed => "Failed",
            TaskState::Canceled => "Canceled",
            TaskState::TimedOut => "TimedOut",
        }
    }

    /// Whether the task has ended: `Cancelling` has not, it is still stopping.
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Canceled | TaskState::TimedOut
        )
    }
}

/// A server task: what runs a runbook run (and deployments, and system jobs).
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub space_id: String,
    pub name: String,
    pub description: String,
    pub state: TaskState,
    /// When the task reached a completed state.
    pub completed_time: Option<Timestamp>,
    /// Why it did not succeed; empty while it runs and after a success.
    pub error_message: String,
}

impl Task {
    /// Moves the task to `state` at `now`, with the completion time and error text Octopus
    /// would show for it.
    pub fn set_state(&mut self, state: TaskState, now: Timestamp) {
        self.state = state;
        self.completed_time = state.is_completed().then_some(now);
        self.error_message = match state {
            TaskState::Failed => "The task failed.",
            TaskState::Canceled => "The task was canceled.",
            TaskState::TimedOut => "The task timed out.",
            _ => "",
        }
        .to_string();
    }
}

/// An OIDC identity of a service account: the tokens it accepts in a token exchange, by
/// issuer and subject (`*` and `?` wildcards, case-sensitive), with an optional audience of
/// its own (otherwise the service account's external id).
#[derive(Debug, Clone)]
pub struct OidcIdentity {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audience: Option<String>,
    pub service_account_id: String,
}

/// A deployment target: what a runbook script might disable, an audited change.
#[derive(Debug, Clone)]
pub struct Machine {
    pub id: String,
    pub space_id: String,
    pub name: String,
    pub is_disabled: bool,
}
