//! The network side: a listener on 127.0.0.1, one thread per connection, optional TLS, and
//! the loop that reads requests, fires injected faults where a real network would, hands
//! the rest to the API, stamps every answer with the server's clock (`Date`) and logs every
//! request with what was answered.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::credential_echo;
use crate::faults::{FaultKind, Options};
use crate::http::{self, Request, Response};
use crate::model::RequestRecord;
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
    (shared, addr, accept)
}

/// Stops the accept loop: sets `stop`, then wakes the listener with one last connection.
pub(crate) fn stop(shared: &Shared, addr: SocketAddr, accept: JoinHandle<()>) {
    shared.stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
    let _ = accept.join();
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
        let fault = shared.state().take_fault(&request);
        let (response, reset) = answer(&shared, &request, fault.as_ref());
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
            fault: fault.as_ref().map(|f| format!("{f:?}")),
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
