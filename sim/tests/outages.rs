//! Outages of the whole server (`set_outage`, `outage_for`, `end_outage`): a restart that
//! answers 503 and does nothing, a load balancer that resets every connection, a port that
//! refuses connections and listens again on the same port afterwards; requests read during
//! one are logged and counted; and by default there is none.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use octopus_sim::{Fault, FaultKind, Fixture, Outage};
use serde_json::json;

use crate::support::{call_me, create_expiring_in};

/// `GET /api/users/me` over `stream`, kept open: the status, or the error that ended it.
fn me_on(stream: &mut TcpStream, key: &str) -> std::io::Result<u16> {
    write!(
        stream,
        "GET /api/users/me HTTP/1.1\r\nHost: sim\r\nX-Octopus-ApiKey: {key}\r\n\r\n"
    )?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if received.len() >= end + 4 + length {
            return Ok(text[9..12].parse().unwrap());
        }
    }
}

/// `GET /api/users/me` with a fresh client: the status, or the error (a reset, a refusal).
fn try_me(f: &Fixture) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent
        .get(&format!("{}/api/users/me", f.sim.url()))
        .header("X-Octopus-ApiKey", &f.broker_key)
        .call()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

fn refused(f: &Fixture) -> bool {
    matches!(
        TcpStream::connect(f.sim.addr()),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[test]
fn by_default_there_is_no_outage() {
    let f = Fixture::new();
    assert_eq!(call_me(&f, &f.broker_key).0, 200);
    assert_eq!(f.sim.requests_during_outage(), 0);
    assert!(f.sim.requests().iter().all(|r| r.fault.is_none()));
    // Ending an outage that is not there changes nothing.
    f.sim.end_outage();
    assert_eq!(call_me(&f, &f.broker_key).0, 200);
}

#[test]
fn a_restarting_server_answers_503_does_nothing_and_counts_the_tries() {
    let f = Fixture::new();
    f.sim
        .inject(Fault::new("GET", "/api/users/me", FaultKind::status(429)));
    f.sim.set_outage(Outage::Unavailable);
    let (status, body) = call_me(&f, &f.broker_key);
    assert_eq!(status, 503);
    assert!(
        body["ErrorMessage"]
            .as_str()
            .unwrap()
            .starts_with("The server is restarting"),
        "{body}"
    );
    assert_eq!(body["Errors"], json!([body["ErrorMessage"]]));
    let keys_before = f.sim.keys(&f.broker_id).len();
    let (status, _) = create_expiring_in(&f, 1);
    assert_eq!(status, 503);
    assert_eq!(f.sim.keys(&f.broker_id).len(), keys_before, "no work done");
    assert!(f.sim.audit().is_empty());
    assert_eq!(f.sim.requests_during_outage(), 2);
    let logged = f.sim.requests();
    assert_eq!(logged.len(), 2, "still logged");
    assert!(
        logged
            .iter()
            .all(|r| r.status == Some(503) && r.fault.as_deref() == Some("Outage(Unavailable)"))
    );

    f.sim.end_outage();
    // The injected fault was not used up by the outage: it fires now, then all is well.
    assert_eq!(call_me(&f, &f.broker_key).0, 429);
    assert_eq!(call_me(&f, &f.broker_key).0, 200);
    assert_eq!(f.sim.requests_during_outage(), 2);
    f.sim.reset_counters();
    assert_eq!(f.sim.requests_during_outage(), 0);
}

#[test]
fn a_failing_over_load_balancer_resets_every_connection_after_reading_it() {
    let f = Fixture::new();
    let mut kept = TcpStream::connect(f.sim.addr()).unwrap();
    assert_eq!(me_on(&mut kept, &f.broker_key).unwrap(), 200);
    f.sim.set_outage(Outage::Reset);
    let connections = f.sim.connections();
    for _ in 0..3 {
        let error = try_me(&f).unwrap_err();
        assert!(!error.is_empty());
    }
    assert!(me_on(&mut kept, &f.broker_key).is_err(), "kept-alive too");
    assert!(f.sim.connections() >= connections + 3, "accepted");
    assert_eq!(f.sim.requests_during_outage(), 4);
    let last = f.sim.requests().pop().unwrap();
    assert_eq!(
        (last.status, last.fault.as_deref()),
        (None, Some("Outage(Reset)"))
    );
    f.sim.end_outage();
    assert_eq!(try_me(&f), Ok(200));
}

#[test]
fn a_refused_port_listens_again_on_the_same_port_every_time() {
    let f = Fixture::new();
    let url = f.sim.url();
    let mut kept = TcpStream::connect(f.sim.addr()).unwrap();
    assert_eq!(me_on(&mut kept, &f.broker_key).unwrap(), 200);
    for round in 0..20 {
        // Connections the server closes first leave TIME_WAIT behind on its port.
        for _ in 0..3 {
            let mut closing = TcpStream::connect(f.sim.addr()).unwrap();
            write!(
                closing,
                "GET /api HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut all = Vec::new();
            closing.read_to_end(&mut all).unwrap();
        }
        f.sim.set_outage(Outage::Refused);
        assert!(refused(&f), "round {round}: the port refuses");
        assert!(try_me(&f).is_err());
        if round == 0 {
            assert!(
                me_on(&mut kept, &f.broker_key).is_err(),
                "a connection from before is reset"
            );
        }
        f.sim.end_outage();
        assert_eq!(f.sim.url(), url);
        assert_eq!(try_me(&f), Ok(200), "round {round}: served again");
    }
    assert_eq!(
        f.sim.requests_during_outage(),
        1,
        "only the kept-alive one was read"
    );
    // A simulator dropped during a refused outage stops all the same.
    f.sim.set_outage(Outage::Refused);
}

#[test]
fn an_outage_for_a_while_ends_by_itself() {
    let f = Fixture::new();
    for outage in [Outage::Unavailable, Outage::Reset, Outage::Refused] {
        let started = Instant::now();
        f.sim.outage_for(outage, Duration::from_millis(500));
        let during = try_me(&f);
        assert_ne!(during, Ok(200), "{outage:?}");
        if outage == Outage::Unavailable {
            assert_eq!(during, Ok(503));
        }
        if outage == Outage::Refused {
            assert!(refused(&f));
        }
        // A client that keeps trying gets through once it is over.
        let mut tries = 0;
        let status = loop {
            tries += 1;
            match try_me(&f) {
                Ok(200) => break 200,
                _ if started.elapsed() > Duration::from_secs(10) => break 0,
                _ => sleep(Duration::from_millis(50)),
            }
        };
        assert_eq!(status, 200, "{outage:?} ended by itself");
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "{outage:?}"
        );
        assert!(tries > 1, "{outage:?}");
    }
    assert!(f.sim.requests_during_outage() > 0);
}
