//! Everything the simulated server knows, behind one lock: its records (users, keys, runs,
//! what `setup` prepares, the spaces' projects, environments and runbooks), the faults still to
//! fire, its options and its clock (which tests can move forward), and the changes several
//! handlers and the test's handle make alike (a key or token stored, a task put in a state).

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};

use crate::catalog::Catalog;
use crate::faults::{Fault, FaultKind, Options};
use crate::http::Request;
use crate::ids;
use crate::model::{
    AccessLevel, ApiKey, AuditEvent, Machine, OidcIdentity, RequestRecord, RunbookRun, Task,
    TaskState, User,
};
use crate::oidc::SigningKey;
use crate::prepared::Prepared;
use crate::runbooks::Runbooks;

/// The first number of a fabricated item's id.
const FABRICATED_FROM: u64 = 1_000_000_001;

pub(crate) struct State {
    pub users: Vec<User>,
    pub keys: Vec<ApiKey>,
    /// Bearer access tokens: (token, user id, expiry).
    pub tokens: Vec<(String, String, Timestamp)>,
    pub runs: Vec<RunbookRun>,
    pub tasks: Vec<Task>,
    pub audit: Vec<AuditEvent>,
    pub requests: Vec<RequestRecord>,
    pub faults: Vec<Fault>,
    pub options: Options,
    pub clock: SignedDuration,
    pub counter: u64,
    /// The server's own URL (`http://127.0.0.1:<port>`): its OIDC issuer.
    pub url: String,
    /// The key the server's OIDC issuer signs JWTs with.
    pub signing_key: SigningKey,
    /// Service accounts' external ids (the OIDC audience): (user id, GUID).
    pub external_ids: Vec<(String, String)>,
    pub oidc_identities: Vec<OidcIdentity>,
    pub machines: Vec<Machine>,
    /// What `setup` prepares: spaces, packages, step templates, teams, roles, accounts.
    pub prepared: Prepared,
    /// The projects, project groups, environments and tenants of every space.
    pub catalog: Catalog,
    /// Runbooks, their processes and snapshots, and scheduled triggers.
    pub runbooks: Runbooks,
    /// Fabricated items made so far, for listings that never end (`Paging::Endless`).
    pub fabricated: AtomicU64,
}

impl State {
    pub fn new(options: Options) -> State {
        State {
            users: Vec::new(),
            keys: Vec::new(),
            tokens: Vec::new(),
            runs: Vec::new(),
            tasks: Vec::new(),
            audit: Vec::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            options,
            clock: SignedDuration::ZERO,
            counter: 0,
            url: String::new(),
            signing_key: SigningKey::generate("octopus-sim-1"),
            external_ids: Vec::new(),
            oidc_identities: Vec::new(),
            machines: Vec::new(),
            prepared: Prepared::new(),
            catalog: Catalog::default(),
            runbooks: Runbooks::default(),
            fabricated: AtomicU64::new(0),
        }
    }

    /// The server's time: the real clock moved by whatever the test advanced it.
    pub fn now(&self) -> Timestamp {
        Timestamp::now() + self.clock
    }

    /// A number for the id of a fabricated item (`Paging::Endless`): never given before,
    /// and far above the numbers real records get, so it names nothing real.
    pub fn fabricated_number(&self) -> u64 {
        FABRICATED_FROM + self.fabricated.fetch_add(1, Ordering::Relaxed)
    }

    /// The next number for an id of the form `Kind-N`.
    pub fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The external id (a GUID) of service account `user_id`, made on first use.
    pub fn external_id(&mut self, user_id: &str) -> String {
        if let Some((_, id)) = self.external_ids.iter().find(|(u, _)| u == user_id) {
            return id.clone();
        }
        let id = ids::guid();
        self.external_ids.push((user_id.to_string(), id.clone()));
        id
    }

    /// A bearer access token for `user_id`, valid until `expires`.
    pub fn insert_token(&mut self, user_id: &str, expires: Timestamp) -> String {
        let token = ids::access_token();
        self.tokens
            .push((token.clone(), user_id.to_string(), expires));
        token
    }

    /// Takes one use of the first fault that matches `request`, if any.
    pub fn take_fault(&mut self, request: &Request) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| f.matches(request))?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }

    /// Adds a task, or resets the state of the one with this id.
    pub fn put_task(&mut self, id: &str, space_id: &str, state: TaskState) {
        let now = self.now();
        if let Some(task) = self.tasks.iter_mut().find(|t| t.id == id) {
            task.set_state(state, now);
            return;
        }
        let mut task = Task {
            id: id.to_string(),
            space_id: space_id.to_string(),
            name: "RunbookRun".to_string(),
            description: format!("Run runbook ({id})"),
            state: TaskState::Queued,
            completed_time: None,
            error_message: String::new(),
        };
        task.set_state(state, now);
        self.tasks.push(task);
    }

    /// Stores a new key for `user_id` with `access_level` and returns (id, plaintext key).
    pub fn insert_key(
        &mut self,
        user_id: &str,
        purpose: &str,
        created: Timestamp,
        expires: Option<Timestamp>,
        access_level: AccessLevel,
    ) -> (String, String) {
        let key = ApiKey {
            id: ids::api_key_id(),
            user_id: user_id.to_string(),
            purpose: purpose.to_string(),
            secret: ids::api_key_secret(),
            created,
            expires,
            last_used: None,
            access_level,
        };
        let result = (key.id.clone(), key.secret.clone());
        self.keys.push(key);
        result
    }
}
