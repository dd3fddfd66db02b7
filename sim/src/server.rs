//! The network side: a listener on 127.0.0.1, one thread per connection, optional TLS, and
//! the loop that reads requests, answers them as an outage would or fires injected faults
//! where a real network would, hands the rest to the API, stamps every answer with the
//! server's clock (`Date`) and logs every request with what was answered. A `Refused`
//! outage closes the listener and listens on the same port again when it ends.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::credential_echo;
use crate::faults::{FaultKind, Options, Outage};
use crate::http::{self, Request, Response};
use crate::model::RequestRecord;
use crate::outage::Outages;
use crate::render::{error, http_date};
use crate::state::State;

/// What the accept loop, the connection threads and the `Simulator` handle share.
pub(crate) struct Shared {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub state: Mutex<State>,
    pub connections: AtomicUsize,
    /// Requests read since the start, never reset: whether the simulator was used at all.
    pub requests_ever: AtomicUsize,
    pub stop: AtomicBool,
    /// The outage in force, if any, and whether the port listens.
    pub outages: Outages,
}

impl Shared {
    /// The state, even after a panic on another thread poisoned the lock.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Binds a random port on 127.0.0.1 and accepts connections until `stop` is set.
pub(crate) fn listen(
    options: Options,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (Arc<Shared>, SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let shared = Arc::new(Shared {
        tls,
        state: Mutex::new(State::new(options)),
        connections: AtomicUsize::new(0),
        requests_ever: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        outages: Outages::new(),
    });
    let accept_shared = Arc::clone(&shared);
    let accept = std::thread::spawn(move || accept_loop(accept_shared, listener, addr));
    (shared, addr, accept)
}

/// Accepts connections, one thread each, until `stop` is set. During a `Refused` outage
/// the listener is closed, and the same port listened on again when the outage ends.
fn accept_loop(shared: Arc<Shared>, mut listener: TcpListener, addr: SocketAddr) {
    loop {
        for stream in listener.incoming() {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            if shared.outages.current() == Some(Outage::Refused) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || serve(shared, stream, id));
        }
        drop(listener);
        shared.outages.set_listening(false, None);
        shared.outages.wait_while_refused(&shared.stop);
        // Listening on the same port again works at once on Linux and macOS (std sets
        // SO_REUSEADDR, so connections of the old listener in TIME_WAIT do not stand in the
        // way); a port taken meanwhile by another socket is tried again until it is free.
        listener = loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            match TcpListener::bind(addr) {
                Ok(listener) => break listener,
                Err(e) => {
                    shared.outages.set_listening(false, Some(e.to_string()));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        shared.outages.set_listening(true, None);
        // A stop that came while the port was closed found no listener to wake.
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Stops the accept loop: sets `stop`, then wakes the listener with one last connection
/// (or, during a `Refused` outage, the loop waiting for it to end).
pub(crate) fn stop(shared: &Shared, addr: SocketAddr, accept: JoinHandle<()>) {
    shared.stop.store(true, Ordering::SeqCst);
    shared.outages.wake();
    let _ = TcpStream::connect(addr);
    let _ = accept.join();
}

/// How long the handle waits for the port to close or listen again.
const SETTLE: Duration = Duration::from_secs(10);

/// Puts `outage` in force until `until` (or until [`end_outage`]), and returns once the
/// port is as it wants: closed for `Refused`, listening otherwise.
pub(crate) fn begin_outage(
    shared: &Shared,
    addr: SocketAddr,
    outage: Outage,
    until: Option<Instant>,
) {
    shared.outages.start(outage, until);
    if outage == Outage::Refused {
        // The accept loop sees the outage when a connection wakes it.
        let _ = TcpStream::connect(addr);
    }
    settle(shared, addr);
}

/// Ends the outage in force, if any, and returns once the port listens.
pub(crate) fn end_outage(shared: &Shared, addr: SocketAddr) {
    shared.outages.end();
    settle(shared, addr);
}

fn settle(shared: &Shared, addr: SocketAddr) {
    if let Err(why) = shared.outages.settle(SETTLE) {
        panic!("the simulator at {addr} could not close or reopen its port for an outage: {why}");
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
        shared.requests_ever.fetch_add(1, Ordering::SeqCst);
        let (response, reset, fault) = match shared.outages.current() {
            Some(outage) => {
                shared.outages.during.fetch_add(1, Ordering::SeqCst);
                let response = (outage == Outage::Unavailable).then(restarting);
                let reset = response.is_none();
                (response, reset, Some(format!("Outage({outage:?})")))
            }
            None => {
                let fault = shared.state().take_fault(&request);
                let (response, reset) = answer(&shared, &request, fault.as_ref());
                (response, reset, fault.map(|f| format!("{f:?}")))
            }
        };
        let response = match response {
            Some(response) if shared.state().options.echo_credentials => {
                Some(credential_echo::echo(&request, response))
            }
            other => other,
        };
        // Every answer carries the server's clock, which a test may have moved.
        let date = http_date(shared.state().now());
        let response = response.map(|r| r.with_header("Date", &date));
        shared.state().requests.push(RequestRecord {
            connection,
            method: request.method.clone(),
            target: request.target.clone(),
            status: response.as_ref().map(|r| r.status),
            fault,
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
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

/// The answer of a server that is restarting (`Outage::Unavailable`).
fn restarting() -> Response {
    error(
        503,
        "The server is restarting. Please try again in a few moments.",
        &[],
    )
}

/// The answer to send (None: none) and whether to reset the connection instead.
fn answer(
    shared: &Shared,
    request: &Request,
    fault: Option<&FaultKind>,
) -> (Option<Response>, bool) {
    let handle = || crate::api::handle(&mut shared.state(), request);
    match fault {
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
            (Some(handle()), false)
        }
        Some(FaultKind::CommitThenReset) => {
            handle();
            (None, true)
        }
        None => (Some(handle()), false),
    }
}
