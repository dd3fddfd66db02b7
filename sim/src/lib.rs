//! A stateful simulator of the parts of the Octopus Deploy REST API that octopus-runkey
//! touches, served over real HTTP on 127.0.0.1 (a random port). It follows
//! `shared/OCTOPUS-FACTS.md`: users and service accounts, API keys with ownership rules and
//! expiry (an expired key gets 401), paging with `Links["Page.Next"]` and a settable page
//! size, `partialPurpose`, runbook runs, Octopus's error bodies, an audit event that records
//! `IdentityEstablishedWith` for every authenticated call, a request log, a connection
//! counter, and injected faults. Tests read its state after a run.

mod http;

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::http::{Request, Response};

/// Octopus's default page size when a request names no `take`.
pub const DEFAULT_TAKE: usize = 30;

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

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub purpose: String,
    /// The plaintext key. The server shows it once, in the answer to the POST.
    pub secret: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
}

impl ApiKey {
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    fn hint(&self) -> String {
        self.secret.chars().take(8).collect()
    }
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub occurred: Timestamp,
    pub user_id: String,
    pub username: String,
    /// `METHOD /path`.
    pub action: String,
    pub status: u16,
    /// `API key '<Purpose>' created <date>`, or `access token`.
    pub identity_established_with: String,
    pub api_key_id: Option<String>,
    pub api_key_hint: Option<String>,
    pub message: String,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status and an Octopus error body, without doing the work.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// A reverse proxy's HTML 502 page, without doing the work.
    Html502,
    /// Reset the connection before answering, without doing the work.
    ResetBeforeResponse,
    /// Do the work, then reset the connection instead of answering.
    CommitThenReset,
    /// Stall this long, then do the work and answer.
    Delay(Duration),
    /// Answer with this status and body (any bytes), without doing the work.
    Body { status: u16, body: String },
}

/// A fault for the next `times` requests whose method matches and whose path contains
/// `path_contains`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub kind: FaultKind,
    pub times: usize,
}

impl Fault {
    pub fn new(method: &str, path_contains: &str, kind: FaultKind) -> Fault {
        Fault {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            kind,
            times: 1,
        }
    }

    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }
}

/// Server behaviours that differ between Octopus versions or are unconfirmed.
#[derive(Debug, Clone)]
pub struct Options {
    /// The most items one page holds, whatever `take` asks (None: `take` is honoured).
    pub max_take: Option<usize>,
    /// Newer servers filter key listings by `partialPurpose`; older ones ignore it.
    pub partial_purpose: bool,
    /// Whether a key may delete itself (unconfirmed on real servers).
    pub allow_self_delete: bool,
    /// 2025.4+ caps `Expires` at this many days from now.
    pub max_expiry_days: i64,
    /// The expiry of a key created without `Expires`.
    pub default_expiry_days: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_take: None,
            partial_purpose: true,
            allow_self_delete: true,
            max_expiry_days: 366,
            default_expiry_days: 180,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunbookRun {
    pub id: String,
    pub space_id: String,
    pub task_id: String,
    pub deployed_by: Option<String>,
}

struct State {
    users: Vec<User>,
    keys: Vec<ApiKey>,
    tokens: Vec<(String, String, Timestamp)>,
    runs: Vec<RunbookRun>,
    audit: Vec<AuditEvent>,
    requests: Vec<RequestRecord>,
    faults: Vec<Fault>,
    options: Options,
    clock: SignedDuration,
    counter: u64,
}

impl State {
    fn now(&self) -> Timestamp {
        Timestamp::now() + self.clock
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn take_fault(&mut self, request: &Request) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| {
            f.times > 0
                && f.method.eq_ignore_ascii_case(&request.method)
                && request.path().contains(&f.path_contains)
        })?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}

struct Shared {
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Mutex<State>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

/// A running simulator; it stops when dropped.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![ca.server_cert.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(ca.server_key.clone().into()),
            )
            .expect("a valid server certificate");
        Simulator::start_inner(options, Some(Arc::new(config)))
    }

    fn start_inner(options: Options, tls: Option<Arc<rustls::ServerConfig>>) -> Simulator {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            tls,
            state: Mutex::new(State {
                users: Vec::new(),
                keys: Vec::new(),
                tokens: Vec::new(),
                runs: Vec::new(),
                audit: Vec::new(),
                requests: Vec::new(),
                faults: Vec::new(),
                options,
                clock: SignedDuration::ZERO,
                counter: 0,
            }),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = accept_shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || serve(shared, stream, id));
            }
        });
        Simulator {
            shared,
            addr,
            accept: Some(accept),
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

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A key made outside the API (as an admin would in the portal). Returns (id, key).
    pub fn add_api_key(
        &self,
        user_id: &str,
        purpose: &str,
        expires: Option<Timestamp>,
    ) -> (String, String) {
        let mut state = self.state();
        let now = state.now();
        insert_key(&mut state, user_id, purpose, now, expires)
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
        insert_key(&mut state, user_id, purpose, created, expires)
    }

    /// A bearer access token for `user_id`, valid for one hour.
    pub fn add_access_token(&self, user_id: &str) -> String {
        let mut state = self.state();
        let token = format!("eyJ{}", random_chars(40, ALNUM));
        let expires = state.now() + SignedDuration::from_hours(1);
        state
            .tokens
            .push((token.clone(), user_id.to_string(), expires));
        token
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
        state.runs.push(run.clone());
        run
    }

    /// Every key the server holds for `user_id`, newest first, expired ones included.
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

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Forgets the request log and the connection count (for per-operation figures).
    pub fn reset_counters(&self) {
        self.state().requests.clear();
        self.shared.connections.store(0, Ordering::SeqCst);
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

    pub fn now(&self) -> Timestamp {
        self.state().now()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The usual cast: a broker service account with a key, and the operator who clicks Run.
pub struct Fixture {
    pub sim: Simulator,
    pub admin_id: String,
    pub broker_id: String,
    pub broker_key: String,
    pub operator_id: String,
    pub space_id: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_options(Options::default())
    }

    pub fn with_options(options: Options) -> Fixture {
        Fixture::on(Simulator::start_with(options))
    }

    /// The usual cast on a simulator that serves HTTPS with a certificate from `ca`.
    pub fn with_tls(ca: &TestCa) -> Fixture {
        Fixture::on(Simulator::start_tls(Options::default(), ca))
    }

    pub fn on(sim: Simulator) -> Fixture {
        let admin_id = sim.add_user(
            "admin",
            "Octopus Admin",
            false,
            &["UserView", "UserEdit", "RunbookRunView"],
        );
        let broker_id = sim.add_user(
            "svc-runbooks",
            "Runbook Broker",
            true,
            &["UserView", "RunbookRunView"],
        );
        let operator_id = sim.add_user("jane.doe", "Jane Doe", false, &["RunbookRunView"]);
        let expires = sim.now() + SignedDuration::from_hours(24 * 90);
        let (_, broker_key) = sim.add_api_key(&broker_id, "broker key for runbooks", Some(expires));
        Fixture {
            sim,
            admin_id,
            broker_id,
            broker_key,
            operator_id,
            space_id: "Spaces-1".to_string(),
        }
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_chars(count: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).expect("OS random source");
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

fn insert_key(
    state: &mut State,
    user_id: &str,
    purpose: &str,
    created: Timestamp,
    expires: Option<Timestamp>,
) -> (String, String) {
    let key = ApiKey {
        id: format!("apikeys-{}", random_chars(25, ALNUM)),
        user_id: user_id.to_string(),
        purpose: purpose.to_string(),
        secret: format!("API-{}", random_chars(26, UPPER_ALNUM)),
        created,
        expires,
    };
    let result = (key.id.clone(), key.secret.clone());
    state.keys.push(key);
    result
}

/// Octopus's date format: offset, 7 fractional digits.
pub fn octopus_date(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.7f+00:00").to_string()
}

/// A throwaway certificate authority and a server certificate it issued for 127.0.0.1 and
/// localhost, made fresh for each test.
pub struct TestCa {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "octopus-sim test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        params
            .distinguished_name
            .push(DnType::CommonName, "octopus-sim");
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .expect("server certificate");
        TestCa {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().to_vec(),
            server_key: server_key.serialize_der(),
        }
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

fn serve(shared: Arc<Shared>, stream: TcpStream, connection: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
    let Ok(raw) = stream.try_clone() else {
        return;
    };
    match shared.tls.clone() {
        None => serve_stream(shared, stream, &raw, connection),
        Some(config) => {
            let Ok(tls) = rustls::ServerConnection::new(config) else {
                return;
            };
            serve_stream(
                shared,
                rustls::StreamOwned::new(tls, stream),
                &raw,
                connection,
            )
        }
    }
}

fn serve_stream<S: Read + Write>(
    shared: Arc<Shared>,
    stream: S,
    raw: &TcpStream,
    connection: usize,
) {
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match http::read_request(&mut reader) {
            Ok(Some(request)) => request,
            _ => return,
        };
        let fault = shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_fault(&request);
        let (response, reset) = match &fault {
            Some(FaultKind::Status {
                status,
                retry_after,
            }) => {
                let mut response = error(
                    *status,
                    "The server is busy or failing (injected fault).",
                    &[],
                );
                if let Some(secs) = retry_after {
                    response = response.with_header("Retry-After", &secs.to_string());
                }
                (Some(response), false)
            }
            Some(FaultKind::Html502) => (
                Some(Response::html(
                    502,
                    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
                )),
                false,
            ),
            Some(FaultKind::Body { status, body }) => (
                Some(Response {
                    status: *status,
                    content_type: "application/json; charset=utf-8",
                    body: body.clone().into_bytes(),
                    extra_headers: Vec::new(),
                }),
                false,
            ),
            Some(FaultKind::ResetBeforeResponse) => (None, true),
            Some(FaultKind::Delay(pause)) => {
                std::thread::sleep(*pause);
                (Some(handle(&shared, &request)), false)
            }
            Some(FaultKind::CommitThenReset) => {
                handle(&shared, &request);
                (None, true)
            }
            None => (Some(handle(&shared, &request)), false),
        };
        {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state.requests.push(RequestRecord {
                connection,
                method: request.method.clone(),
                target: request.target.clone(),
                status: response.as_ref().map(|r| r.status),
                fault: fault.as_ref().map(|f| format!("{f:?}")),
                headers: request.headers.clone(),
            });
        }
        match response {
            Some(response) if !reset => {
                if response.write_to(reader.get_mut()).is_err() || request.wants_close() {
                    return;
                }
            }
            _ => {
                http::reset(raw);
                return;
            }
        }
    }
}

/// Who made a request, once authenticated.
struct Actor {
    user: User,
    key_id: Option<String>,
    key_hint: Option<String>,
    identity: String,
    key_expires: Option<Timestamp>,
}

fn handle(shared: &Shared, request: &Request) -> Response {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let now = state.now();
    if request.method == "GET" && (request.path() == "/api" || request.path() == "/api/") {
        return Response::json(200, &root_document());
    }
    let actor = match authenticate(&state, request, now) {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let (response, message) = route(&mut state, &actor, request, now);
    state.audit.push(AuditEvent {
        occurred: now,
        user_id: actor.user.id.clone(),
        username: actor.user.username.clone(),
        action: format!("{} {}", request.method, request.path()),
        status: response.status,
        identity_established_with: actor.identity.clone(),
        api_key_id: actor.key_id.clone(),
        api_key_hint: actor.key_hint.clone(),
        message,
    });
    response
}

fn authenticate(state: &State, request: &Request, now: Timestamp) -> Result<Actor, Response> {
    let unauthorized = || {
        error(
            401,
            "You must be logged in to perform this action. Please provide a valid API key or log in again.",
            &[],
        )
    };
    if let Some(value) = request.header("X-Octopus-ApiKey") {
        let key = state
            .keys
            .iter()
            .find(|k| k.secret == value.trim())
            .ok_or_else(unauthorized)?;
        if key.is_expired_at(now) {
            return Err(unauthorized());
        }
        let user = state
            .user(&key.user_id)
            .filter(|u| u.is_active)
            .ok_or_else(unauthorized)?;
        return Ok(Actor {
            user: user.clone(),
            key_id: Some(key.id.clone()),
            key_hint: Some(key.hint()),
            identity: format!(
                "API key '{}' created {}",
                key.purpose,
                key.created.strftime("%Y-%m-%d")
            ),
            key_expires: key.expires,
        });
    }
    if let Some(token) = request
        .header("Authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let (_, user_id, _) = state
            .tokens
            .iter()
            .find(|(t, _, expires)| t == token.trim() && *expires > now)
            .ok_or_else(unauthorized)?;
        let user = state
            .user(user_id)
            .filter(|u| u.is_active)
            .ok_or_else(unauthorized)?;
        return Ok(Actor {
            user: user.clone(),
            key_id: None,
            key_hint: None,
            identity: "access token".to_string(),
            key_expires: None,
        });
    }
    Err(unauthorized())
}

fn route(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    now: Timestamp,
) -> (Response, String) {
    let path = request.path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let done = |response: Response| (response, String::new());
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "users", "me"]) => done(Response::json(200, &user_json(&actor.user))),
        ("GET", ["api", "users"]) => {
            if !actor.user.permissions.iter().any(|p| p == "UserView") {
                return done(forbidden("UserView"));
            }
            let users: Vec<&User> = state.users.iter().collect();
            done(paged(
                request,
                "User",
                users,
                user_json,
                state.options.max_take,
                "/api/users",
                &[],
            ))
        }
        ("GET", ["api", "spaces"]) => {
            let spaces = vec![
                json!({"Id": "Spaces-1", "Name": "Default", "IsDefault": true, "Links": {"Self": "/api/spaces/Spaces-1"}}),
            ];
            done(paged(
                request,
                "Space",
                spaces,
                |space| space,
                state.options.max_take,
                "/api/spaces",
                &[],
            ))
        }
        ("GET", ["api", "authentication"]) => done(Response::json(
            200,
            &json!({
                "ApiKeyDefaultExpiryDays": state.options.default_expiry_days,
                "ApiKeyMaxExpiryDays": state.options.max_expiry_days,
                "AnyAuthenticationProvidersSupportPasswordManagement": true,
                "Links": {"Self": "/api/authentication"},
            }),
        )),
        ("GET", ["api", "users", id]) => {
            let Some(user) = state.user(id) else {
                return done(not_found(id));
            };
            if user.id != actor.user.id && !actor.user.permissions.iter().any(|p| p == "UserView") {
                return done(forbidden("UserView"));
            }
            done(Response::json(200, &user_json(user)))
        }
        (method, ["api", "users", id, "apikeys", rest @ ..]) => {
            let Some(owner) = state.user(id).cloned() else {
                return done(not_found(id));
            };
            if owner.id != actor.user.id && !actor.user.permissions.iter().any(|p| p == "UserEdit")
            {
                return done(forbidden("UserEdit"));
            }
            match (method, rest) {
                ("GET", []) => done(list_keys(state, request, &owner)),
                ("POST", []) => create_key(state, actor, request, &owner, now),
                ("GET", [key_id]) => done(match state.keys.iter().find(|k| k.id == *key_id) {
                    None => not_found(key_id),
                    Some(key) if key.user_id != owner.id => not_owned(),
                    Some(key) => Response::json(200, &listed_key_json(key)),
                }),
                ("DELETE", [key_id]) => delete_key(state, actor, &owner, key_id),
                _ => done(method_not_allowed()),
            }
        }
        ("GET", ["api", space, "runbookRuns", run_id]) => {
            if !actor.user.permissions.iter().any(|p| p == "RunbookRunView") {
                return done(forbidden("RunbookRunView"));
            }
            let Some(run) = state
                .runs
                .iter()
                .find(|r| r.id == *run_id && r.space_id == *space)
            else {
                return done(not_found(run_id));
            };
            done(Response::json(200, &runbook_run_json(state, run)))
        }
        _ => done(not_found(&path)),
    }
}

fn list_keys(state: &State, request: &Request, owner: &User) -> Response {
    let partial = request
        .query("partialPurpose")
        .filter(|p| !p.is_empty() && state.options.partial_purpose);
    let partial_lower = partial.as_ref().map(|p| p.to_lowercase());
    let mut keys: Vec<&ApiKey> = state
        .keys
        .iter()
        .filter(|k| k.user_id == owner.id)
        .filter(|k| {
            partial_lower
                .as_ref()
                .is_none_or(|p| k.purpose.to_lowercase().contains(p.as_str()))
        })
        .collect();
    keys.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));

    let extra: Vec<(&str, String)> = partial
        .iter()
        .map(|p| ("partialPurpose", p.clone()))
        .collect();
    paged(
        request,
        "ApiKey",
        keys,
        listed_key_json,
        state.options.max_take,
        &format!("/api/users/{}/apikeys", owner.id),
        &extra,
    )
}

fn create_key(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    owner: &User,
    now: Timestamp,
) -> (Response, String) {
    let invalid = |message: &str| {
        (
            error(400, "There was a problem with your request.", &[message]),
            String::new(),
        )
    };
    if owner.id != actor.user.id && !owner.is_service {
        return invalid(
            "API keys can only be created for your own account or for a service account.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return invalid("The request body is not valid JSON.");
    };
    let purpose = body
        .get("Purpose")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if purpose.is_empty() {
        return invalid("Please provide a purpose for this API key.");
    }
    if let Some(user_id) = body.get("UserId").and_then(Value::as_str)
        && user_id != owner.id
    {
        return invalid("The UserId in the body does not match the user in the URL.");
    }
    let max = now + SignedDuration::from_hours(24 * state.options.max_expiry_days);
    let expires = match body.get("Expires") {
        None => now + SignedDuration::from_hours(24 * state.options.default_expiry_days),
        Some(Value::Null) => max,
        Some(Value::String(text)) => match text.parse::<Timestamp>() {
            Ok(at) => at,
            Err(_) => return invalid("The expiry date is not a valid date."),
        },
        Some(_) => return invalid("The expiry date is not a valid date."),
    };
    if expires <= now {
        return invalid("The expiry date must be in the future.");
    }
    if expires > max {
        let days = state.options.max_expiry_days;
        return invalid(&format!(
            "The expiry date cannot be more than {days} days in the future."
        ));
    }
    if actor.key_expires.is_some_and(|limit| expires > limit) {
        return invalid(
            "The expiry date cannot be after the expiry of the API key used to create it.",
        );
    }
    let (id, secret) = insert_key(state, &owner.id, &purpose, now, Some(expires));
    let key = state
        .keys
        .iter()
        .find(|k| k.id == id)
        .expect("just inserted")
        .clone();
    let mut body = listed_key_json(&key);
    body["ApiKey"] = Value::String(secret);
    (
        Response::json(200, &body),
        format!("Created API key '{purpose}' for {}", owner.username),
    )
}

fn delete_key(state: &mut State, actor: &Actor, owner: &User, key_id: &str) -> (Response, String) {
    let Some(index) = state.keys.iter().position(|k| k.id == key_id) else {
        return (not_found(key_id), String::new());
    };
    if state.keys[index].user_id != owner.id {
        return (not_owned(), String::new());
    }
    if actor.key_id.as_deref() == Some(key_id) && !state.options.allow_self_delete {
        return (
            error(403, "An API key cannot be used to delete itself.", &[]),
            String::new(),
        );
    }
    let key = state.keys.remove(index);
    (
        Response::json(200, &json!({})),
        format!("Deleted API key '{}' of {}", key.purpose, owner.username),
    )
}

/// One page of `items`, rendered with `render` (only the page's items are rendered).
fn paged<T>(
    request: &Request,
    item_type: &str,
    items: Vec<T>,
    render: impl Fn(T) -> Value,
    max_take: Option<usize>,
    base: &str,
    extra: &[(&str, String)],
) -> Response {
    let skip: usize = request
        .query("skip")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let asked: usize = request
        .query("take")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_TAKE);
    let take = max_take.map_or(asked, |max| asked.min(max)).max(1);
    let total = items.len();
    let pages = total.div_ceil(take).max(1);
    let page: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(take)
        .map(render)
        .collect();
    let query = |skip: usize| {
        let mut q = format!("{base}?skip={skip}&take={take}");
        for (name, value) in extra {
            q.push_str(&format!("&{name}={}", encode(value)));
        }
        q
    };
    let mut links = HashMap::new();
    links.insert("Self", query(skip));
    links.insert("Template", format!("{base}{{?skip,take,partialPurpose}}"));
    links.insert("Page.All", format!("{base}?skip=0&take=2147483647"));
    links.insert("Page.Current", query(skip));
    links.insert("Page.Last", query((pages - 1) * take));
    if skip + take < total {
        links.insert("Page.Next", query(skip + take));
    }
    Response::json(
        200,
        &json!({
            "ItemType": item_type,
            "TotalResults": total,
            "ItemsPerPage": take,
            "NumberOfPages": pages,
            "LastPageNumber": pages - 1,
            "Items": page,
            "Links": links,
        }),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn root_document() -> Value {
    json!({
        "Application": "Octopus Deploy",
        "Version": "2026.3.0",
        "ApiVersion": "3.0.0",
        "InstallationId": "00000000-0000-0000-0000-00000000beef",
        "Links": {"Self": "/api", "CurrentUser": "/api/users/me", "Users": "/api/users{/id}{?skip,take,ids,filter}"},
    })
}

fn user_json(user: &User) -> Value {
    json!({
        "Id": user.id,
        "Username": user.username,
        "DisplayName": user.display_name,
        "EmailAddress": user.email,
        "IsActive": user.is_active,
        "IsService": user.is_service,
        "IsRequestor": false,
        "CanPasswordBeEdited": !user.is_service,
        "Identities": [],
        "Links": {
            "Self": format!("/api/users/{}", user.id),
            "ApiKeys": format!("/api/users/{}/apikeys{{/id}}{{?skip,take}}", user.id),
            "Permissions": format!("/api/users/{}/permissions", user.id),
        },
    })
}

fn listed_key_json(key: &ApiKey) -> Value {
    let mut value = json!({
        "Id": key.id,
        "Purpose": key.purpose,
        "UserId": key.user_id,
        "ApiKey": {"HasValue": true, "Hint": key.hint()},
        "Created": octopus_date(key.created),
        "Links": {"Self": format!("/api/users/{}/apikeys/{}", key.user_id, key.id), "User": format!("/api/users/{}", key.user_id)},
    });
    if let Some(expires) = key.expires {
        value["Expires"] = Value::String(octopus_date(expires));
    }
    value
}

fn runbook_run_json(state: &State, run: &RunbookRun) -> Value {
    let mut value = json!({
        "Id": run.id,
        "SpaceId": run.space_id,
        "ProjectId": "Projects-1",
        "RunbookId": "Runbooks-1",
        "RunbookSnapshotId": "RunbookSnapshots-1",
        "FrozenRunbookProcessId": "RunbookProcess-Runbooks-1-s-1",
        "EnvironmentId": "Environments-1",
        "TaskId": run.task_id,
        "Name": "Run 1",
        "Comments": "",
        "Created": octopus_date(state.now()),
        "QueueTime": octopus_date(state.now()),
        "FailureEncountered": false,
        "ForcePackageDownload": false,
        "UseGuidedFailure": false,
        "SkipActions": [],
        "SpecificMachineIds": [],
        "ExcludedMachineIds": [],
        "DeployedToMachineIds": [],
        "FormValues": {},
        "Links": {"Self": format!("/api/{}/runbookRuns/{}", run.space_id, run.id), "Task": format!("/api/tasks/{}", run.task_id)},
    });
    if let Some(user) = run.deployed_by.as_deref().and_then(|id| state.user(id)) {
        value["DeployedBy"] = Value::String(user.username.clone());
        value["DeployedById"] = Value::String(user.id.clone());
    }
    value
}

fn error(status: u16, message: &str, errors: &[&str]) -> Response {
    let errors: Vec<&str> = if errors.is_empty() {
        vec![message]
    } else {
        errors.to_vec()
    };
    Response::json(
        status,
        &json!({
            "ErrorMessage": message,
            "Errors": errors,
            "FullException": null,
            "HelpText": null,
            "HelpLink": null,
            "Details": {},
        }),
    )
}

fn forbidden(permission: &str) -> Response {
    error(
        403,
        &format!(
            "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}"
        ),
        &[],
    )
}

fn not_found(what: &str) -> Response {
    error(404, &format!("The resource '{what}' was not found."), &[])
}

fn not_owned() -> Response {
    error(
        400,
        "This ApiKey does not belong to the specified user.",
        &[],
    )
}

fn method_not_allowed() -> Response {
    error(
        405,
        "The requested method is not allowed on this resource.",
        &[],
    )
}
