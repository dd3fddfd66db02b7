//! The handle a test holds: starting the server (plain or over TLS), seeding it with users
//! and their permissions, keys, tokens, OIDC identities and JWTs, runbook runs and tasks,
//! deployment targets (what a space holds is seeded in `spaces`), injecting faults
//! and outages, moving its clock and changing options while it runs, and reading back what it holds and what it was
//! asked. The server stops when it is dropped, and a simulator that was never asked anything
//! fails the test then, unless the test said it expects no request: a test whose server was
//! never called tests nothing about it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use crate::faults::{Fault, Options, Outage};
use crate::model::{
    AccessLevel, ApiKey, AuditEvent, Machine, OidcIdentity, RequestRecord, RunbookRun, Task,
    TaskState, User,
};
use crate::oidc::{JwtVariant, SigningKey};
use crate::server::{self, Shared};
use crate::state::State;
use crate::tls::TestCa;

/// A running simulator; it stops when dropped. Dropping it panics when it received no
/// request at all, unless [`Simulator::expect_no_requests`] was called (and then when it
/// received any).
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    expects_no_requests: AtomicBool,
}

impl Simulator {
    pub fn start() -> Simulator {
        Simulator::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Simulator {
        Simulator::start_inner(options, None)
    }

    /// The simulator over HTTPS, with a certificate for 127.0.0.1 and localhost issued by
    /// `ca`. Its URL is `https://127.0.0.1:<port>`.
    pub fn start_tls(options: Options, ca: &TestCa) -> Simulator {
        Simulator::start_inner(options, Some(ca.server_config()))
    }

    fn start_inner(options: Options, tls: Option<Arc<rustls::ServerConfig>>) -> Simulator {
        let (shared, addr, accept) = server::listen(options, tls);
        let scheme = if shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        shared.state().url = format!("{scheme}://{addr}");
        Simulator {
            shared,
            addr,
            accept: Some(accept),
            expects_no_requests: AtomicBool::new(false),
        }
    }

    /// `http://127.0.0.1:<port>`, or `https://` when started with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's state, locked; the other files of the handle (`spaces`) read it too.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    pub fn add_user(
        &self,
        username: &str,
        display_name: &str,
        is_service: bool,
        permissions: &[&str],
    ) -> String {
        let mut state = self.state();
        let id = format!("Users-{}", state.users.len() + 1);
        state.users.push(User {
            id: id.clone(),
            username: username.to_string(),
            display_name: display_name.to_string(),
            email: if is_service {
                String::new()
            } else {
                format!("{username}@example.com")
            },
            is_service,
            is_active: true,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        });
        id
    }

    pub fn disable_user(&self, user_id: &str) {
        let mut state = self.state();
        if let Some(user) = state.users.iter_mut().find(|u| u.id == user_id) {
            user.is_active = false;
        }
    }

    /// Gives `user_id` a permission (as a team's role would).
    pub fn grant_permission(&self, user_id: &str, permission: &str) {
        let mut state = self.state();
        if let Some(user) = state.users.iter_mut().find(|u| u.id == user_id)
            && !user.has_permission(permission)
        {
            user.permissions.push(permission.to_string());
        }
    }

    /// Takes a permission away from `user_id`; its keys lose it at once.
    pub fn revoke_permission(&self, user_id: &str, permission: &str) {
        let mut state = self.state();
        if let Some(user) = state.users.iter_mut().find(|u| u.id == user_id) {
            user.permissions.retain(|p| p != permission);
        }
    }

    /// A key made outside the API (as an admin would in the portal). Returns (id, key).
    pub fn add_api_key(
        &self,
        user_id: &str,
        purpose: &str,
        expires: Option<Timestamp>,
    ) -> (String, String) {
        let mut state = self.state();
        let now = state.now();
        state.insert_key(user_id, purpose, now, expires, AccessLevel::FullAccess)
    }

    /// A key of `user_id` with `access_level`, made outside the API as the web portal makes
    /// one (the only documented way to choose a level): a read-only key, say, that can
    /// read but whose every change, deleting itself included, is refused. Returns (id, key).
    pub fn add_api_key_with_access(
        &self,
        user_id: &str,
        purpose: &str,
        expires: Option<Timestamp>,
        access_level: AccessLevel,
    ) -> (String, String) {
        let mut state = self.state();
        let now = state.now();
        state.insert_key(user_id, purpose, now, expires, access_level)
    }

    /// A key created `age` ago (for sweep tests).
    pub fn add_old_api_key(
        &self,
        user_id: &str,
        purpose: &str,
        age: SignedDuration,
        expires: Option<Timestamp>,
    ) -> (String, String) {
        let mut state = self.state();
        let created = state.now() - age;
        state.insert_key(user_id, purpose, created, expires, AccessLevel::FullAccess)
    }

    /// Sets the expiry of key `key_id` (None: it never expires), as if it had been made with
    /// it. Octopus cannot change a key once it is made; this is how a test gives a key it
    /// did not make itself, such as the broker's own key of the usual cast, a short life: a
    /// broker key about to expire, which the keys it creates cannot outlive. Panics when no
    /// key has this id, since a test that changes a key it never made is wrong.
    pub fn set_key_expiry(&self, key_id: &str, expires: Option<Timestamp>) {
        let mut state = self.state();
        let key = state
            .keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .unwrap_or_else(|| panic!("no key {key_id} in the simulator"));
        key.expires = expires;
    }

    /// Deletes a key outside the API, leaving no audit event (as a test's setup would).
    pub fn remove_api_key(&self, key_id: &str) {
        self.state().keys.retain(|k| k.id != key_id);
    }

    /// A bearer access token for `user_id`, valid for `Options::access_token_lifetime` (one
    /// hour by default) from the server's now, as the token exchange would issue it.
    pub fn add_access_token(&self, user_id: &str) -> String {
        let mut state = self.state();
        let expires = state.now() + state.options.access_token_lifetime;
        state.insert_token(user_id, expires)
    }

    /// The access tokens the server has issued to `user_id` (by the token exchange or
    /// [`Simulator::add_access_token`]), expired ones included, oldest first.
    pub fn access_tokens(&self, user_id: &str) -> Vec<String> {
        self.state()
            .tokens
            .iter()
            .filter(|(_, user, _)| user == user_id)
            .map(|(token, _, _)| token.clone())
            .collect()
    }

    /// Gives service account `user_id` an OIDC identity that trusts the server's own issuer
    /// for subjects matching `subject_pattern` (`*`/`?` wildcards, case-sensitive); returns
    /// the account's external id, the audience its JWTs must carry.
    pub fn add_oidc_identity(&self, user_id: &str, subject_pattern: &str) -> String {
        let mut state = self.state();
        let issuer = state.url.clone();
        let n = state.next();
        state.oidc_identities.push(OidcIdentity {
            id: format!("OidcIdentities-{n}"),
            name: format!("runkey {n}"),
            issuer,
            subject: subject_pattern.to_string(),
            audience: None,
            service_account_id: user_id.to_string(),
        });
        state.external_id(user_id)
    }

    /// The external id (a GUID) of service account `user_id`: its OIDC audience.
    pub fn external_id(&self, user_id: &str) -> String {
        self.state().external_id(user_id)
    }

    /// Every OIDC identity of every service account.
    pub fn oidc_identities(&self) -> Vec<OidcIdentity> {
        self.state().oidc_identities.clone()
    }

    /// The server's OIDC issuer: its own URL.
    pub fn oidc_issuer(&self) -> String {
        self.state().url.clone()
    }

    /// A JWT as Octopus gives a step through a Generic OIDC account: signed ES256 by the
    /// server's key, issued by the server, for `subject` and `audience`, expiring
    /// `expires_in` from the server's now (negative: already expired).
    pub fn oidc_jwt(&self, subject: &str, audience: &str, expires_in: SignedDuration) -> String {
        let state = self.state();
        let now = state.now();
        let claims = crate::oidc::claims(&state.url, subject, audience, now, now + expires_in);
        state.signing_key.sign(&claims)
    }

    /// A JWT like [`Simulator::oidc_jwt`] but wrong in the way `variant` says.
    pub fn oidc_jwt_with(
        &self,
        variant: JwtVariant,
        subject: &str,
        audience: &str,
        expires_in: SignedDuration,
    ) -> String {
        let state = self.state();
        let now = state.now();
        let expires = now + expires_in;
        match variant {
            JwtVariant::OtherKey => {
                let claims = crate::oidc::claims(&state.url, subject, audience, now, expires);
                SigningKey::generate(&state.signing_key.kid).sign(&claims)
            }
            JwtVariant::OtherIssuer(issuer) => {
                let claims = crate::oidc::claims(&issuer, subject, audience, now, expires);
                state.signing_key.sign(&claims)
            }
        }
    }

    /// A deployment target named `name` in `space_id`, enabled; returns its id (`Machines-N`).
    pub fn add_machine(&self, space_id: &str, name: &str) -> String {
        let mut state = self.state();
        let id = format!("Machines-{}", state.next());
        state.machines.push(Machine {
            id: id.clone(),
            space_id: space_id.to_string(),
            name: name.to_string(),
            is_disabled: false,
        });
        id
    }

    pub fn machine(&self, id: &str) -> Option<Machine> {
        self.state().machines.iter().find(|m| m.id == id).cloned()
    }

    /// A runbook run in `space_id` started by `deployed_by` (a user id, or nobody).
    pub fn add_runbook_run(&self, space_id: &str, deployed_by: Option<&str>) -> RunbookRun {
        let mut state = self.state();
        let n = state.next();
        let run = RunbookRun {
            id: format!("RunbookRuns-{n}"),
            space_id: space_id.to_string(),
            task_id: format!("ServerTasks-{n}"),
            deployed_by: deployed_by.map(str::to_string),
        };
        state.put_task(&run.task_id, space_id, TaskState::Executing);
        state.runs.push(run.clone());
        run
    }

    /// A server task in `Spaces-1` with this id (or the next `ServerTasks-N`) in `state`;
    /// returns its id. An existing task of that id only changes state.
    pub fn add_task(&self, id: Option<&str>, state: TaskState) -> String {
        let mut guard = self.state();
        let id = match id {
            Some(id) => id.to_string(),
            None => format!("ServerTasks-{}", guard.next()),
        };
        guard.put_task(&id, "Spaces-1", state);
        id
    }

    /// Moves a task to `state` (setting `CompletedTime` when it completes). Panics when no
    /// task has this id, since a test that moves a task it never made is wrong.
    pub fn set_task_state(&self, id: &str, state: TaskState) {
        let mut guard = self.state();
        let now = guard.now();
        let task = guard
            .tasks
            .iter_mut()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no task {id} in the simulator"));
        task.set_state(state, now);
    }

    pub fn task(&self, id: &str) -> Option<Task> {
        self.state().tasks.iter().find(|t| t.id == id).cloned()
    }

    /// Every key the server holds for `user_id`, newest first, expired ones included, each
    /// with the access level it was made with.
    pub fn keys(&self, user_id: &str) -> Vec<ApiKey> {
        let state = self.state();
        let mut keys: Vec<ApiKey> = state
            .keys
            .iter()
            .filter(|k| k.user_id == user_id)
            .cloned()
            .collect();
        keys.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        keys
    }

    /// The keys of `user_id` that still authenticate.
    pub fn live_keys(&self, user_id: &str) -> Vec<ApiKey> {
        let now = self.now();
        self.keys(user_id)
            .into_iter()
            .filter(|k| !k.is_expired_at(now))
            .collect()
    }

    pub fn audit(&self) -> Vec<AuditEvent> {
        self.state().audit.clone()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    /// Asserts that no request has reached the simulator, and that none will before it is
    /// dropped: what a test of a usage error says, since those come before any request.
    /// It is also how a test that never calls the simulator says so.
    #[track_caller]
    pub fn expect_no_requests(&self) {
        self.expects_no_requests.store(true, Ordering::SeqCst);
        let received = self.requests_received();
        assert!(
            received == 0,
            "the simulator received {received} request(s) where none was expected: {:?}",
            self.request_lines()
        );
    }

    /// Requests received since the start, [`Simulator::reset_counters`] notwithstanding.
    pub fn requests_received(&self) -> usize {
        self.shared.requests_ever.load(Ordering::SeqCst)
    }

    fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Forgets the request log, the connection count and the count of requests during
    /// outages (for per-operation figures).
    pub fn reset_counters(&self) {
        self.state().requests.clear();
        self.shared.connections.store(0, Ordering::SeqCst);
        self.shared.outages.during.store(0, Ordering::SeqCst);
    }

    /// Puts `outage` in force for every request until [`Simulator::end_outage`]: a server
    /// restart (`Unavailable`: 503), a load balancer failing over (`Reset`), nothing
    /// listening on the port (`Refused`). It returns once the outage is in force (for
    /// `Refused`, once the port is closed); it replaces any outage in force. Requests read
    /// during it are logged as usual (status 503 or none, `fault` naming the outage) and
    /// counted by [`Simulator::requests_during_outage`]; refused connections are not seen.
    pub fn set_outage(&self, outage: Outage) {
        server::begin_outage(&self.shared, self.addr, outage, None);
    }

    /// [`Simulator::set_outage`] for `duration`, after which the server serves again by
    /// itself (for `Refused`, listening on the same port again): a restart that takes this
    /// long, while the client keeps trying.
    pub fn outage_for(&self, outage: Outage, duration: Duration) {
        server::begin_outage(
            &self.shared,
            self.addr,
            outage,
            Some(Instant::now() + duration),
        );
    }

    /// Ends the outage in force, if any, and returns once the port listens again.
    pub fn end_outage(&self) {
        server::end_outage(&self.shared, self.addr);
    }

    /// Requests read while an outage was in force, since the start or the last
    /// [`Simulator::reset_counters`]: whether (and how often) a client kept trying.
    pub fn requests_during_outage(&self) -> usize {
        self.shared.outages.during.load(Ordering::SeqCst)
    }

    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn set_options(&self, change: impl FnOnce(&mut Options)) {
        change(&mut self.state().options);
    }

    /// Moves the server's clock (expiry checks, `Created` of new keys) forward.
    pub fn advance_clock(&self, by: SignedDuration) {
        self.state().clock += by;
    }

    /// Sets the server's clock to the real clock plus `offset`, replacing any earlier offset
    /// or [`Simulator::advance_clock`]. It models a server and a worker whose clocks
    /// disagree: a negative offset is a server behind the worker (or a worker whose clock
    /// jumped forward), a positive one a server ahead. Everything the server decides by time
    /// follows it: key and token expiry, the checks on a new key's `Expires`, `Created` and
    /// `Occurred`, and the `Date` header of every answer.
    pub fn set_clock_offset(&self, offset: SignedDuration) {
        self.state().clock = offset;
    }

    pub fn now(&self) -> Timestamp {
        self.state().now()
    }

    /// Every user and service account.
    pub fn users(&self) -> Vec<User> {
        self.state().users.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let received = self.requests_received();
        let expects_none = self.expects_no_requests.load(Ordering::SeqCst);
        let lines = self.request_lines();
        if let Some(accept) = self.accept.take() {
            server::stop(&self.shared, self.addr, accept);
        }
        if std::thread::panicking() {
            return;
        }
        if expects_none {
            assert!(
                received == 0,
                "the simulator at {} received {received} request(s) after expect_no_requests(): {lines:?}",
                self.url()
            );
        } else {
            assert!(
                received > 0,
                "the simulator at {} received no request: the test never exercised it (call \
                 expect_no_requests() where that is the point)",
                self.url()
            );
        }
    }
}
