//! A small forward proxy on loopback for the proxy tests: `CONNECT host:port` tunnels (what
//! clients use for https://, and what ureq uses for http:// too) and absolute-form requests
//! (`GET http://host:port/path`), forwarded as origin-form. It records each request line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct TestProxy {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    pub fn start() -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&shared);
                std::thread::spawn(move || handle(client, log));
            }
        });
        TestProxy { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines the proxy received (`CONNECT 127.0.0.1:1234`, `GET http://...`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn handle(client: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let done = line == "\r\n";
        head.push(line);
        if done {
            break;
        }
    }
    let first: Vec<&str> = head[0].split_whitespace().collect();
    let (method, target) = (first[0].to_string(), first[1].to_string());
    let mut writer = client.try_clone().unwrap();
    let upstream = if method == "CONNECT" {
        log.lock().unwrap().push(format!("CONNECT {target}"));
        let upstream = TcpStream::connect(&target).unwrap();
        writer
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        upstream
    } else {
        log.lock().unwrap().push(format!("{method} {target}"));
        let rest = target.strip_prefix("http://").expect("absolute-form");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut upstream = TcpStream::connect(authority).unwrap();
        let mut request = format!(
            "{method} {} {}",
            if path.is_empty() { "/" } else { path },
            first[2..].join(" ")
        );
        request.push_str("\r\n");
        for line in &head[1..] {
            request.push_str(line);
        }
        upstream.write_all(request.as_bytes()).unwrap();
        upstream
    };
    // Whatever the client sent after the head goes on, then both directions are piped.
    let buffered = reader.buffer().to_vec();
    let mut up_writer = upstream.try_clone().unwrap();
    up_writer.write_all(&buffered).unwrap();
    let mut up_reader = upstream.try_clone().unwrap();
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_reader, &mut writer);
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut client_reader = reader.into_inner();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = client_reader.read(&mut chunk) {
        if n == 0 || up_writer.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
}
