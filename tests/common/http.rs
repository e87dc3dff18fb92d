//! A minimal HTTP/1.1 client over std (keep-alive, Content-Length and chunked bodies) and a
//! handle on a running `ratchet serve` process, for the service's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One keep-alive connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    pub fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_nodelay(true)?;
        Ok(Conn { r: BufReader::new(s.try_clone()?), w: s })
    }

    pub fn send(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        self.write_request(method, path, body)?;
        self.read_response()
    }

    /// Writes one request without waiting for its answer (pipelining, or many connections
    /// in flight at once).
    pub fn write_request(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<()> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.w.write_all(head.as_bytes())?;
        self.w.write_all(body)
    }

    /// Writes raw bytes: a partial or malformed request.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// True once the server has closed the connection (a read gives end of file or a
    /// reset); false if it is still open after the read timeout `wait`.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        if self.w.set_read_timeout(Some(wait)).is_err() {
            return false;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                // a response (a 400 or 408) before the close: keep reading
                Ok(_) => continue,
                Err(e) => {
                    return matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    );
                }
            }
        }
    }

    /// Reads one response.
    pub fn read_response(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            self.r.read_exact(&mut body)?;
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                line.clear();
                self.r.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        Ok(Resp { status, headers, body: String::from_utf8_lossy(&body).to_string() })
    }
}

/// One request on a fresh connection.
pub fn request(addr: &str, method: &str, path: &str, body: &str) -> Resp {
    let mut c = Conn::open(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    c.send(method, path, body.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, "")
}

pub fn post(addr: &str, path: &str, body: &str) -> Resp {
    request(addr, "POST", path, body)
}

/// A `ratchet serve` child process on an ephemeral loopback port.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratchet"));
        cmd.arg("serve").args(["--addr", "127.0.0.1:0"]).args(args);
        cmd.env_remove("RATCHET_ANCHORS").stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn ratchet serve: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the server did not start: {:?}", log.lock().map(|l| l.clone()))
        });
        Server { child, addr, log }
    }

    pub fn status(&self) -> serde_json::Value {
        get(&self.addr, "/v1/status").json()
    }

    /// Waits (bounded) until the status satisfies `f`; returns the status.
    pub fn wait_status(&self, what: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let t = Instant::now();
        loop {
            let s = self.status();
            if f(&s) {
                return s;
            }
            if t.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; status {s}; log {:?}", self.log.lock().map(|l| l.clone()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
