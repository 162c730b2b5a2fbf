//! Live capture on loopback with real peers: a Python `websockets` server and client, nginx
//! as a reverse proxy (right, and with its upstream down), `wssniff -i lo` watching. Needs
//! root (or the capture capabilities), nginx and Python `websockets`: skipped with a message
//! when those are missing outside CI, a failure inside CI (where `scripts/setup-debian`
//! installs them).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::*;

/// Kills the child when dropped, so a failed assertion leaves no server behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Peers {
    python: PathBuf,
}

fn peers() -> Option<Peers> {
    let skip = |why: &str| {
        assert!(
            !crate::util::under_ci(),
            "live tests cannot run in CI: {why}"
        );
        eprintln!("skipped: {why}");
        None
    };
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return skip("not root (live capture needs CAP_NET_RAW)");
    }
    if Command::new("nginx").arg("-v").output().is_err() {
        return skip("nginx not installed");
    }
    let venv = root().join("samples/gen/.venv/bin/python");
    let python = [PathBuf::from("python3"), venv].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import websockets.asyncio.client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    match python {
        Some(python) => Some(Peers { python }),
        None => skip("Python websockets not installed"),
    }
}

/// A Python `websockets` server on a port the system chose (`--port 0`, the port read from
/// the line it logs): tests running at once, in this process or in another checkout's, never
/// share a port, so no capture filter sees another test's traffic.
struct Server {
    _proc: Proc,
    port: u16,
}

impl Peers {
    fn server(&self, mode: &str) -> Server {
        let mut child = Command::new(&self.python)
            .arg(root().join("samples/gen/pyws.py"))
            .args(["server", "--host", "127.0.0.1", "--port", "0"])
            .args(["--mode", mode, "--lifetime", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python websockets server");
        let lines = lines_of(child.stderr.take().unwrap());
        let child = Proc(child);
        let port = first_line_with(&lines, "the Python server's port", |l| {
            l.split("listening on 127.0.0.1:")
                .nth(1)
                .and_then(|p| p.trim().parse().ok())
        });
        wait_listening(port);
        Server { _proc: child, port }
    }

    /// Runs a client to completion (bounded by its own timeouts).
    fn client(&self, url: &str, mode: &str) {
        self.client_waiting(url, mode, 4);
    }

    /// [`Peers::client`], waiting `open_timeout` seconds for the handshake's answer.
    fn client_waiting(&self, url: &str, mode: &str, open_timeout: u32) {
        let status = Command::new("timeout")
            .args(["60", self.python.to_str().unwrap()])
            .arg(root().join("samples/gen/pyws.py"))
            .args([
                "client",
                "--url",
                url,
                "--mode",
                mode,
                "--open-timeout",
                &open_timeout.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the Python websockets client");
        assert_ne!(status.code(), Some(124), "client {url} hung");
    }
}

/// How long the live tests wait for a condition: generous, since it only turns a hang
/// into a failure (nothing depends on how fast a loaded machine gets there).
const PATIENCE: Duration = Duration::from_secs(60);

/// The lines `from` gives, read by a thread of their own (so a full pipe never stalls
/// the process writing them).
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first of `lines` for which `pick` gives a value (the lines before it are dropped),
/// waiting at most [`PATIENCE`] for it.
fn first_line_with<T>(
    lines: &mpsc::Receiver<String>,
    what: &str,
    pick: impl Fn(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(value) = pick(&line) {
                    return value;
                }
                seen.push(line);
            }
            Err(e) => panic!("no line with {what} ({e}); the lines were: {seen:#?}"),
        }
    }
}

/// Waits until `done` holds (polled), at most [`PATIENCE`]; `what` names it in the failure.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port on 127.0.0.1 the system just chose as free (bound, then released), for
/// peers that cannot bind port 0 and say which port they got (nginx, which is started
/// again on another port if the port was taken in between), and as a port nothing
/// listens on.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// nginx proxying WebSockets to 127.0.0.1:`upstream` on a free port; returns it and its port.
fn nginx(dir: &Path, upstream: u16) -> (Proc, u16) {
    for _ in 0..5 {
        let listen = free_port();
        let prefix = dir.join(format!("nginx-{listen}"));
        std::fs::create_dir_all(&prefix).unwrap();
        let conf = std::fs::read_to_string(root().join("samples/gen/nginx-ws.conf.tmpl"))
            .unwrap()
            .replace("@PREFIX@", prefix.to_str().unwrap())
            .replace("@LISTEN_PORT@", &listen.to_string())
            .replace("@UPSTREAM_PORT@", &upstream.to_string())
            .replace("@READ_TIMEOUT@", "10s");
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        // nginx writes its pid file once its listening socket is bound (and exits when the
        // port was taken): the pid file holding this nginx's pid says the port is its own.
        let pid_file = prefix.join("nginx.pid");
        let ours = child.id().to_string();
        let mut bound = false;
        wait_until("nginx to bind its port or exit", || {
            bound = std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == ours);
            bound || child.try_wait().unwrap().is_some()
        });
        if bound {
            wait_listening(listen);
            return (Proc(child), listen);
        }
    }
    panic!("nginx could not bind a free port in five tries");
}

fn wait_listening(port: u16) {
    wait_until(&format!("something listening on 127.0.0.1:{port}"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A running `wssniff -i lo …`, started once it printed its "listening on" banner; its
/// stdout and stderr read as they come.
struct Sniffer {
    proc: Proc,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    /// The stdout lines read so far (by [`Sniffer::wait_for_line`]).
    out: Vec<String>,
}

impl Sniffer {
    fn start(args: &[&str]) -> Sniffer {
        Sniffer::start_on("lo", args)
    }

    fn start_on(interface: &str, args: &[&str]) -> Sniffer {
        let mut child = crate::util::command()
            .args(["-i", interface])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wssniff");
        let stderr = lines_of(child.stderr.take().unwrap());
        let stdout = lines_of(child.stdout.take().unwrap());
        let proc = Proc(child);
        let banner = stderr.recv_timeout(PATIENCE).expect("wssniff banner");
        assert!(
            banner.contains(&format!("listening on {interface}")),
            "{banner}"
        );
        Sniffer {
            proc,
            stderr,
            stdout,
            out: Vec::new(),
        }
    }

    /// Waits (at most [`PATIENCE`]) until wssniff printed a JSON line for which `ok` holds:
    /// what it analysed live, so a signal sent after it cannot cut the analysis short.
    fn wait_for_line(&mut self, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self
                .out
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .any(|v| ok(&v))
            {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => self.out.push(line),
                Err(e) => panic!("wssniff printed no {what} ({e}): {:#?}", self.out),
            }
        }
    }

    fn interrupt(&self) {
        let pid = self.proc.0.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
    }

    /// Waits for exit (at most `limit`); returns exit code, stdout, stderr (all of both:
    /// read to their end, not only what had arrived when the process exited).
    fn finish(mut self, limit: Duration) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + limit.max(PATIENCE);
        let status = loop {
            if let Some(status) = self.proc.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "wssniff did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The readers end at end of file, which the exit brings.
        self.out.extend(self.stdout.iter());
        let mut out = self.out.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        let err: Vec<String> = self.stderr.iter().collect();
        (status.code(), out, err.join("\n"))
    }
}

/// Whether `line` is the record of a WebSocket connection (one with its handshake), which
/// comes when the connection ended: everything before that end has been analysed.
fn ended_websocket(line: &serde_json::Value) -> bool {
    line["type"] == "connection" && line["handshake_observed"] == true
}

/// The handshakes wssniff reads from the capture file `path` (none while it is not there).
fn handshakes_in(path: &Path) -> usize {
    if !path.exists() {
        return 0;
    }
    let out = wssniff(&["-r", path.to_str().unwrap(), "--json"]);
    json_lines(&String::from_utf8_lossy(&out.stdout)).len()
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "handshake")
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wssniff-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn live_good_proxied_and_bad_gateway_paths() {
    let Some(peers) = peers() else { return };
    let dir = temp_dir("live-paths");
    let server = peers.server("echo");
    let (_proxy, proxy) = nginx(&dir, server.port);
    let (_broken, broken) = nginx(&dir, free_port()); // nothing listens upstream
    let report = dir.join("live.md");
    let filter = format!(
        "tcp port {} or tcp port {proxy} or tcp port {broken}",
        server.port
    );
    let sniffer = Sniffer::start(&[
        "--json",
        "-c",
        "4",
        "--report",
        report.to_str().unwrap(),
        &filter,
    ]);
    peers.client(&format!("ws://127.0.0.1:{}/direct", server.port), "basic");
    peers.client(&format!("ws://127.0.0.1:{proxy}/proxied"), "basic");
    peers.client(&format!("ws://127.0.0.1:{broken}/broken"), "expect-fail");
    let (code, out, err) = sniffer.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 4, "-c 4 stops after four handshakes: {out}");
    let by_server = |port: u16, path: &str| {
        recs.iter()
            .find(|r| r["server"] == format!("127.0.0.1:{port}") && r["path"] == path)
            .unwrap_or_else(|| panic!("no handshake to {port}{path}: {out}"))
    };
    assert_eq!(by_server(server.port, "/direct")["verdict"], "ok");
    // Both legs of the proxied handshake, each verified on its own.
    assert_eq!(by_server(proxy, "/proxied")["verdict"], "ok");
    assert_eq!(by_server(server.port, "/proxied")["verdict"], "ok");
    let broken = by_server(broken, "/broken");
    assert_eq!(broken["status"], 502);
    assert_eq!(broken["verdict"], "failed");
    assert_eq!(codes(broken), ["bad_gateway"]);
    assert!(err.contains("4 WebSocket handshakes"), "{err}");
    assert!(err.contains("dropped by kernel"), "{err}");
    // The forensic report works live too: the proxied legs linked, the 502 explained.
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("live capture on lo"), "{md}");
    assert!(
        md.contains("bad_gateway") && md.contains("Proxy hop"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_unanswered_upgrade_is_reported_after_the_timeout() {
    let Some(peers) = peers() else { return };
    let server = peers.server("silent");
    let filter = format!("tcp port {}", server.port);
    let sniffer = Sniffer::start(&["--json", "-c", "1", "--response-timeout", "1", &filter]);
    // The client waits 10 s for an answer; wssniff must speak after about 1 s, not at the end
    // (the margin is for a loaded machine's late tick).
    let url = format!("ws://127.0.0.1:{}/silent", server.port);
    let client = std::thread::spawn(move || {
        peers.client_waiting(&url, "expect-fail", 10);
    });
    let (code, out, err) = sniffer.finish(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{err}");
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(codes(&recs[0]), ["no_response"]);
    assert_eq!(recs[0]["ending"], "response_timeout");
    let waited = recs[0]["timing"]["waited_ms"].as_f64().unwrap();
    assert!(
        (1000.0..9000.0).contains(&waited),
        "reported after {waited} ms: must be the timeout, not the client giving up at 10 s"
    );
    client.join().unwrap();
}

/// The same with `--threads 2`: the workers' engines are ticked at the batcher's ticks, so
/// the unanswered upgrade is reported at the timeout, not when the client gives up.
#[test]
fn live_threads_report_an_unanswered_upgrade_after_the_timeout() {
    let Some(peers) = peers() else { return };
    let server = peers.server("silent");
    let filter = format!("tcp port {}", server.port);
    let mut sniffer = Sniffer::start(&[
        "--json",
        "--threads",
        "2",
        "--response-timeout",
        "1",
        &filter,
    ]);
    let url = format!("ws://127.0.0.1:{}/silent", server.port);
    let client = std::thread::spawn(move || {
        peers.client_waiting(&url, "expect-fail", 10);
    });
    sniffer.wait_for_line("handshake record", |l| l["type"] == "handshake");
    sniffer.interrupt();
    client.join().unwrap();
    let (code, out, err) = sniffer.finish(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{err}");
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(codes(&recs[0]), ["no_response"]);
    assert_eq!(recs[0]["ending"], "response_timeout", "{out}");
    let waited = recs[0]["timing"]["waited_ms"].as_f64().unwrap();
    assert!(
        (1000.0..9000.0).contains(&waited),
        "reported after {waited} ms: must be the timeout, not the client giving up at 10 s"
    );
}

#[test]
fn live_write_reads_back_and_sigint_prints_the_summary() {
    let Some(peers) = peers() else { return };
    let dir = temp_dir("live-write");
    let all = dir.join("all.pcap");
    let only = dir.join("only.pcap");
    let server = peers.server("echo");
    let filter = format!("tcp port {}", server.port);
    let mut a = Sniffer::start(&["--json", "-w", all.to_str().unwrap(), &filter]);
    let b = Sniffer::start(&[
        "-q",
        "-w",
        only.to_str().unwrap(),
        "--write-handshakes-only",
        &filter,
    ]);
    // A plain TCP connection that never upgrades, then a WebSocket one.
    drop(TcpStream::connect(("127.0.0.1", server.port)).unwrap());
    peers.client(&format!("ws://127.0.0.1:{}/chat", server.port), "basic");
    // Both have analysed the connection to its end (SIGINT drops what is not read yet):
    // one says so, the other's file (flushed at every tick) holds its handshake.
    a.wait_for_line("the WebSocket connection's record", ended_websocket);
    wait_until("the handshake in the handshakes-only file", || {
        handshakes_in(&only) == 1
    });
    a.interrupt();
    b.interrupt();
    let (code, out, err) = a.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("1 WebSocket handshake:"),
        "summary after SIGINT: {err}"
    );
    assert!(err.contains("packets captured"), "{err}");
    let live = json_lines(&out);
    assert_eq!(live.len(), 1);
    let (code, _, err) = b.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");

    // The written file gives the same answer.
    let again = records(&all, &[]);
    let again: Vec<_> = again.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(again.len(), 1);
    for field in [
        "key",
        "accept",
        "verdict",
        "status",
        "client",
        "server",
        "community_id",
    ] {
        assert_eq!(again[0][field], live[0][field], "{field}");
    }
    let only_recs = records(&only, &[]);
    assert_eq!(
        only_recs
            .iter()
            .filter(|r| r["type"] == "handshake")
            .count(),
        1
    );
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&only) < size(&all),
        "the plain connection must not be in the handshakes-only file"
    );
    // tshark reads it too, when installed.
    if let Ok(o) = Command::new("tshark")
        .arg("-r")
        .arg(&all)
        .args(["-Y", "http.response.code == 101"])
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sighup_reopens_the_json_output_and_writes_the_report_so_far() {
    let Some(peers) = peers() else { return };
    let dir = temp_dir("live-hup");
    let out = dir.join("w.jsonl");
    let rotated = dir.join("w.jsonl.1");
    let report = dir.join("report.json");
    let server = peers.server("echo");
    let filter = format!("tcp port {}", server.port);
    let sniffer = Sniffer::start(&[
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        &filter,
    ]);
    // -o is flushed at every record live: a path in the file says it was analysed.
    let written = |p: &Path, path: &str| {
        std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!(r#""path":"{path}""#)))
    };
    peers.client(&format!("ws://127.0.0.1:{}/first", server.port), "basic");
    wait_until("/first in the JSON file", || written(&out, "/first"));
    // What logrotate does: move the file away, create the new one for the user wssniff runs
    // as (`create 0600 nobody nogroup`: as root, wssniff dropped to nobody), then SIGHUP.
    std::fs::rename(&out, &rotated).unwrap();
    std::fs::write(&out, "").unwrap();
    sh("chown", &["65534:65534", out.to_str().unwrap()]);
    let pid = sniffer.proc.0.id().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let mut said = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !said.iter().any(|l: &String| l.contains("report so far")) {
        assert!(Instant::now() < deadline, "no SIGHUP lines: {said:?}");
        if let Ok(line) = sniffer.stderr.recv_timeout(Duration::from_millis(100)) {
            said.push(line);
        }
    }
    assert!(
        said.iter()
            .any(|l| l.contains(&format!("SIGHUP: reopened {}", out.display()))),
        "{said:?}"
    );
    let so_far: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        so_far["total"], 1,
        "the report so far holds the first handshake"
    );
    peers.client(&format!("ws://127.0.0.1:{}/second", server.port), "basic");
    wait_until("/second in the reopened JSON file", || {
        written(&out, "/second")
    });
    sniffer.interrupt();
    let (code, _, err) = sniffer.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    let paths = |p: &Path| -> Vec<String> {
        json_lines(&std::fs::read_to_string(p).unwrap())
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_owned())
            .collect()
    };
    // Each handshake in exactly one file: nothing lost, nothing written twice.
    assert_eq!(paths(&rotated), ["/first"]);
    assert_eq!(paths(&out), ["/second"]);
    let last = std::fs::read_to_string(&out).unwrap();
    assert!(last
        .lines()
        .last()
        .unwrap()
        .starts_with(r#"{"type":"summary""#));
    let end: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(end["total"], 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// One HTTP/1.1 GET to 127.0.0.1:`port`; the status line and the body.
fn http_get(port: u16, target: &str) -> (String, String) {
    try_http_get(port, target).expect("connect")
}

/// [`http_get`], or `None` while nothing listens on `port` yet.
fn try_http_get(port: u16, target: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    Some((
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    ))
}

/// Whether a Prometheus server binary is installed; under `CI=true` (whose setup installs
/// the Debian package) a missing one fails.
fn have_prometheus() -> bool {
    let found = Command::new("prometheus").arg("--version").output().is_ok();
    assert!(
        found || !crate::util::under_ci(),
        "CI=true but prometheus is not installed: the scrape test cannot run"
    );
    if !found {
        eprintln!("skipped: prometheus not installed");
    }
    found
}

#[test]
fn metrics_are_scraped_by_a_real_prometheus() {
    let Some(peers) = peers() else { return };
    if !have_prometheus() {
        return;
    }
    let dir = temp_dir("metrics");
    let ok_server = peers.server("echo");
    let auth_server = peers.server("auth");
    // Port 0: the system picks a free one and wssniff says which (tests running at once,
    // here or in another checkout, never meet on a fixed port).
    let sniffer = Sniffer::start(&[
        "-q",
        "--metrics",
        "0",
        "--metrics-servers",
        "1",
        &format!(
            "tcp port {} or tcp port {}",
            ok_server.port, auth_server.port
        ),
    ]);
    let metrics: u16 = first_line_with(&sniffer.stderr, "the metrics address", |l| {
        l.split("serving metrics on http://127.0.0.1:")
            .nth(1)?
            .strip_suffix("/metrics")?
            .parse()
            .ok()
    });
    assert_ne!(metrics, 0, "the port bound, not the one asked for");
    peers.client(&format!("ws://127.0.0.1:{}/chat", ok_server.port), "basic");
    peers.client(
        &format!("ws://127.0.0.1:{}/private", auth_server.port),
        "expect-fail",
    );
    // Only /metrics is served.
    assert_eq!(http_get(metrics, "/").0, "HTTP/1.1 404 Not Found");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wssniff\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prometheus");
    let said = lines_of(prometheus.stderr.take().unwrap());
    let _prometheus = Proc(prometheus);
    // Its log names the port it bound: `msg="Listening on" address=127.0.0.1:PORT`.
    let api: u16 = first_line_with(&said, "Prometheus's address", |l| {
        l.contains(r#"msg="Listening on""#)
            .then(|| l.split("address=127.0.0.1:").nth(1))??
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    // Prometheus's own query API is the judge: the scrape parsed, and the series hold the
    // two handshakes with their verdicts, the 401's finding and the server label.
    let query = |q: &str| -> String {
        match try_http_get(api, &format!("/api/v1/query?query={q}")) {
            Some((status, body)) if status.contains("200") => body,
            _ => String::new(),
        }
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = query("wssniff_handshakes_total");
        if body.contains(r#""verdict":"failed""#) && body.contains(r#""verdict":"ok""#) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no handshakes in Prometheus: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let up = query("up");
    assert!(
        up.contains(r#""job":"wssniff""#) && up.contains(r#","1"]"#),
        "{up}"
    );
    let unauthorized = query("wssniff_findings_total%7Bcode%3D%22unauthorized%22%7D");
    assert!(unauthorized.contains(r#""1"]"#), "{unauthorized}");
    let servers = query("wssniff_server_handshakes_total");
    let named =
        |server: &Server| servers.contains(&format!(r#""server":"127.0.0.1:{}""#, server.port));
    assert!(
        servers.contains(r#""server":"other""#) && (named(&ok_server) || named(&auth_server)),
        "{servers}"
    );
    let packets = query("wssniff_packets_total%3E0");
    assert!(packets.contains("wssniff_packets_total"), "{packets}");
    // The target is healthy: Prometheus parsed every scrape of the OpenMetrics text.
    let (_, targets) = http_get(api, "/api/v1/targets");
    assert!(
        targets.contains(r#""health":"up""#) && targets.contains(r#""lastError":"""#),
        "{targets}"
    );
    let (_, text) = http_get(metrics, "/metrics");
    assert!(text.ends_with("# EOF\n"), "{text}");
    sniffer.interrupt();
    let (code, _, err) = sniffer.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_errors_name_the_problem() {
    let out = wssniff(&["-i", "no-such-if0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no such interface") && err.contains("lo"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    if peers().is_none() {
        return;
    }
    let out = wssniff(&["-i", "lo", "tcp", "port", "notaport"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad filter expression 'tcp port notaport'"));
    // Without the capabilities: say which ones and how to grant them. Run as `nobody` from a
    // copy of the binary the account can execute.
    let dir = temp_dir("live-noperm");
    let copy = dir.join("wssniff");
    std::fs::copy(env!("CARGO_BIN_EXE_wssniff"), &copy).unwrap();
    Command::new("chmod")
        .arg("-R")
        .arg("a+rx")
        .arg(&dir)
        .status()
        .unwrap();
    let out = Command::new("su")
        .args(["nobody", "-s", "/bin/sh", "-c"])
        .arg(format!("{} -i lo", copy.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_capture_gives_up_root_after_opening() {
    if peers().is_none() {
        return;
    }
    let dir = temp_dir("live-privs");
    let out = dir.join("out.pcap");
    // A port no other test's traffic uses.
    let filter = format!("tcp port {}", free_port());
    let sniffer = Sniffer::start(&["-q", "-w", out.to_str().unwrap(), &filter]);
    let line = sniffer
        .stderr
        .recv_timeout(PATIENCE)
        .expect("a line about privileges");
    assert!(
        line.contains("dropped root privileges to user nobody"),
        "{line}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", sniffer.proc.0.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|id| id != "0"),
        "still root: {uid_line}"
    );
    // The -w file was opened before: it is still written (and readable afterwards).
    sniffer.interrupt();
    let (code, _, err) = sniffer.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    assert!(std::fs::metadata(&out).unwrap().len() >= 24);
    // -Z root keeps root, as in tcpdump.
    let kept = Sniffer::start(&["-q", "-Z", "root", &filter]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", kept.proc.0.id())).unwrap();
    assert!(status.lines().any(|l| l.starts_with("Uid:\t0")), "{status}");
    kept.interrupt();
    let (code, _, _) = kept.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_capture_on_any_keeps_every_packet_of_a_handshake() {
    // `-i any` has no MTU to cap libpcap's per-packet ring slots in immediate mode; with
    // libpcap's default 2 MiB buffer a handshake's burst used to overflow it.
    let Some(peers) = peers() else { return };
    let server = peers.server("echo");
    let dir = temp_dir("live-any");
    let written = dir.join("any.pcap");
    let filter = format!("tcp port {}", server.port);
    let mut sniffer =
        Sniffer::start_on("any", &["--json", "-w", written.to_str().unwrap(), &filter]);
    peers.client(&format!("ws://127.0.0.1:{}/chat", server.port), "basic");
    sniffer.wait_for_line("the WebSocket connection's record", ended_websocket);
    sniffer.interrupt();
    let (code, out, err) = sniffer.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(" 0 dropped by kernel"), "{err}");
    let recs = json_lines(&out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["verdict"], "ok");
    let conn: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "connection")
        .collect();
    assert_eq!(conn.len(), 1, "{out}");
    assert_eq!(conn[0]["ending"], "clean", "{out}");
    assert_eq!(codes(&conn[0]), Vec::<String>::new(), "{out}");
    // As with tcpdump, `any` is captured as Linux cooked v2, and the written file says so.
    let reread = wssniff(&["-r", written.to_str().unwrap(), "-q"]);
    assert!(
        stderr(&reread).contains("LINUX_SLL2 (276)"),
        "{}",
        stderr(&reread)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `cmd` with `args`, panicking with its stderr when it fails.
fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a veth pair `va` (10.77.0.1/24) — `vb`, both up; deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        let have_ip = Command::new("ip").arg("-V").output().is_ok();
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" || !have_ip {
            assert!(
                !crate::util::under_ci(),
                "live exit tests need root and iproute2"
            );
            eprintln!("skipped: needs root and iproute2 (ip netns)");
            return None;
        }
        let ns = Netns(format!("wssniff-{tag}-{}", std::process::id()));
        sh("ip", &["netns", "add", &ns.0]);
        ns.run(&[
            "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ]);
        ns.run(&["ip", "link", "set", "va", "up"]);
        ns.run(&["ip", "link", "set", "vb", "up"]);
        ns.run(&["ip", "addr", "add", "10.77.0.1/24", "dev", "va"]);
        Some(ns)
    }

    fn run(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", self.0.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all);
    }

    /// wssniff inside the namespace, with `args`.
    fn wssniff(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_wssniff")])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `n` Ethernet frames of 1000 bytes onto the wire from `va` (a raw socket: no peer
    /// needed), numbered from 0 in their first two payload bytes ([`last_frame_number`]).
    fn traffic(&self, n: u32) {
        let script = format!(
            "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('va', 0))\n\
             for i in range({n}): s.send(b'\\xff' * 6 + b'\\x02' * 6 + b'\\x88\\xb5' + i.to_bytes(2, 'big') + bytes(984))\n"
        );
        self.run(&["python3", "-c", &script]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The largest frame number ([`Netns::traffic`]) in the classic pcap files of `dir` so far
/// (what a live `-w` has flushed: every tick).
fn last_frame_number(dir: &Path) -> Option<u16> {
    let mut last = None;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let mut at = 24;
        while let Some(header) = file.get(at..at + 16) {
            let caplen = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
            let Some(frame) = file.get(at + 16..at + 16 + caplen) else {
                break;
            };
            if let Some(&[hi, lo]) = frame.get(14..16) {
                last = last.max(Some(u16::from_be_bytes([hi, lo])));
            }
            at += 16 + caplen;
        }
    }
    last
}

/// Sends SIGINT to `child` (`ip netns exec` runs wssniff in its own process).
fn interrupt(child: &Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
}

/// Waits until wssniff says it is listening (its first stderr line), then returns the rest.
fn listening(child: &mut Child) -> std::thread::JoinHandle<String> {
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(err).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first.clone());
        let mut all = first + "\n";
        for l in lines.map_while(Result::ok) {
            all += &l;
            all += "\n";
        }
        all
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.contains("listening on vb"), "{first}");
    reader
}

#[test]
fn live_interface_that_disappears_is_said_with_the_summary_and_exit_3() {
    let Some(ns) = Netns::new("gone") else { return };
    let dir = temp_dir("live-gone");
    let written = dir.join("before.pcap");
    let mut child = ns.wssniff(&["-i", "vb", "-Z", "root", "-w", written.to_str().unwrap()]);
    let err = listening(&mut child);
    ns.traffic(5);
    // Read before the interface goes (the -w file is flushed at every tick).
    wait_until("the five frames in the -w file", || {
        pcap_records(&written) >= 5
    });
    // The interface goes away under the capture (as an unplugged USB NIC does).
    ns.run(&["ip", "link", "del", "va"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "wssniff did not notice");
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains("the capture on vb stopped") && err.contains("disappeared"),
        "{err}"
    );
    // What was captured before is kept: the summary is there and counts the pings.
    let captured: u64 = err
        .lines()
        .find(|l| l.contains("packets captured"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no capture counters: {err}"));
    assert!(captured >= 5, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The whole records in the classic pcap file at `path` (0 while it is not there): what a
/// live `-w` has flushed so far.
fn pcap_records(path: &Path) -> usize {
    let file = std::fs::read(path).unwrap_or_default();
    let mut at = 24;
    let mut records = 0;
    while let Some(header) = file.get(at..at + 16) {
        let caplen = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        if file.len() < at + 16 + caplen {
            break;
        }
        at += 16 + caplen;
        records += 1;
    }
    records
}

/// A tmpfs of `kib` KiB mounted on a new directory; unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(tag: &str, kib: u32) -> SmallDisk {
        let dir = temp_dir(tag);
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k"),
                "tmpfs",
                dir.to_str().unwrap(),
            ],
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_disk_under_w_stops_the_capture_keeps_the_summary_and_exits_3() {
    let Some(ns) = Netns::new("full") else { return };
    // 12 KiB: the pcap header and a few packets fit, the rest do not.
    let disk = SmallDisk::new("full-w", 12);
    let out = disk.0.join("ws.pcap");
    let mut child = ns.wssniff(&["-i", "vb", "-Z", "root", "-w", out.to_str().unwrap()]);
    let err = listening(&mut child);
    for _ in 0..10 {
        ns.traffic(10);
        std::thread::sleep(Duration::from_millis(300));
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "wssniff did not notice the full disk"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains("writing output failed") && err.contains("No space left on device"),
        "{err}"
    );
    assert!(
        err.contains("packets captured"),
        "the summary is kept: {err}"
    );
    // What was written before the disk filled is a readable capture.
    let back = wssniff(&["-r", out.to_str().unwrap(), "-q"]);
    assert!(
        back.status.code() == Some(0) || back.status.code() == Some(2),
        "{}",
        stderr(&back)
    );
    assert!(stderr(&back).contains("packets"), "{}", stderr(&back));
}

#[test]
fn a_full_disk_under_o_keeps_the_summary_and_exits_3() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        assert!(!crate::util::under_ci(), "needs root to mount a tmpfs");
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let disk = SmallDisk::new("full-o", 4);
    let out = disk.0.join("hs.jsonl");
    let sample = root().join("samples/close-codes.pcap");
    let run = wssniff(&[
        "-r",
        sample.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("WebSocket handshake"),
        "the summary is kept: {err}"
    );
}

/// Mode bits and owner of `path`.
fn mode_and_owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.mode() & 0o777, m.uid())
}

#[test]
fn outputs_are_owner_only_and_respect_a_stricter_umask() {
    let dir = temp_dir("perms");
    let sample = root().join("samples/close-codes.pcap");
    let (json, report) = (dir.join("hs.jsonl"), dir.join("r.html"));
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&report);
    let run = |umask: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" -r \"$1\" -q -o \"$2\" --report \"$3\""
            ))
            .arg(env!("CARGO_BIN_EXE_wssniff"))
            .arg(&sample)
            .arg(&json)
            .arg(&report)
            .output()
            .unwrap()
    };
    let out = run("022");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_and_owner(&json).0, 0o600, "-o: other people's traffic");
    assert_eq!(mode_and_owner(&report).0, 0o600, "--report");
    std::fs::remove_file(&json).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert!(run("277").status.success());
    assert_eq!(mode_and_owner(&json).0, 0o400, "a stricter umask wins");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_outputs_belong_to_the_user_privileges_were_dropped_to() {
    let Some(ns) = Netns::new("owner") else {
        return;
    };
    let dir = temp_dir("owner");
    let (pcap, json) = (dir.join("ws.pcap"), dir.join("hs.jsonl"));
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_wssniff")])
        .args(["-i", "vb", "--duration", "1", "-q", "-Z", "nobody", "-w"])
        .arg(&pcap)
        .arg("-o")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let nobody: u32 = String::from_utf8_lossy(&nobody.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(mode_and_owner(&pcap), (0o600, nobody), "-w");
    assert_eq!(mode_and_owner(&json), (0o600, nobody), "-o");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn live_write_secrets_makes_a_pcapng_tshark_decrypts_without_a_key_log() {
    // A TLS session replayed with the key log already complete (a real peer's key log line
    // can arrive after its ServerHello is read), in a namespace of its own: no other test
    // (here or in another checkout) replays the same session where these captures see it.
    let Some(ns) = Netns::new("secrets") else {
        return;
    };
    // The sample was captured on lo: frames larger than a veth's default MTU.
    for dev in ["va", "vb"] {
        ns.run(&["ip", "link", "set", dev, "mtu", "65535"]);
    }
    let dir = temp_dir("live-secrets");
    let out = dir.join("decryptable.pcapng");
    let plain = dir.join("plain.pcap");
    let script = dir.join("replay.py");
    std::fs::write(&script, REPLAY_ON).unwrap();
    let pcap = sample("tls/tls13-wss-python-ok.pcap");
    // The session's key log and another session's line, which must not be written.
    let sample_keys = std::fs::read_to_string(sample("tls/tls13-wss-python-ok.keys")).unwrap();
    let other = format!("CLIENT_RANDOM {} {}\n", "ab".repeat(32), "cd".repeat(48));
    let keys = dir.join("keys.txt");
    std::fs::write(&keys, format!("{sample_keys}{other}")).unwrap();
    let mut with = ns.wssniff(&[
        "-i",
        "vb",
        "-Z",
        "root",
        "-q",
        "--keylog",
        keys.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "--write-secrets",
        "tcp port 18404",
    ]);
    let with_err = listening(&mut with);
    let mut without = ns.wssniff(&[
        "-i",
        "vb",
        "-Z",
        "root",
        "-q",
        "--keylog",
        keys.to_str().unwrap(),
        "-w",
        plain.to_str().unwrap(),
        "tcp port 18404",
    ]);
    let without_err = listening(&mut without);
    ns.run(&[
        "python3",
        script.to_str().unwrap(),
        "va",
        pcap.to_str().unwrap(),
    ]);
    // Both wrote every replayed packet (flushed at every tick) before SIGINT, which drops
    // what is not read yet.
    let sent = pcap_records(&pcap);
    wait_until("every packet in both -w files", || {
        pcap_records(&plain) == sent && packets_in(&out) == Some(sent as u64)
    });
    let stop = |mut child: Child, err: std::thread::JoinHandle<String>| {
        let pid = child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let status = child.wait().unwrap();
        (status.code(), err.join().unwrap())
    };
    let (code, err) = stop(with, with_err);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1 decrypted"), "{err}");
    let (code, err) = stop(without, without_err);
    assert_eq!(code, Some(0), "{err}");

    // The file carries its keys: wssniff reads it back decrypted without --keylog…
    let back = all_records(&out, &[]);
    let hs: Vec<_> = back.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(hs.len(), 1, "{back:#?}");
    assert_eq!(hs[0]["verdict"], "ok");
    let from_sample = records(&pcap, &["--keylog", keys.to_str().unwrap()]);
    assert_eq!(from_sample.len(), 1);
    assert_eq!(hs[0]["key"], from_sample[0]["key"]);
    // …and only the sessions it decrypted, not the whole key log, are in it.
    let bytes = std::fs::read(&out).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let used = sample_keys
        .lines()
        .filter(|l| l.contains("TRAFFIC_SECRET"))
        .collect::<Vec<_>>();
    assert_eq!(used.len(), 4);
    for line in used {
        assert!(text.contains(line), "the secrets block holds {line:.30}…");
    }
    assert!(
        !text.contains(other.trim()),
        "another session's secret leaked"
    );
    // Without --write-secrets, -w stays a plain pcap with no secret in it.
    let plain_bytes = std::fs::read(&plain).unwrap();
    assert_eq!(plain_bytes[..4], 0xa1b2_3c4d_u32.to_le_bytes());
    assert!(records(&plain, &[]).is_empty());

    // tshark decrypts it without being given a key log.
    let Ok(o) = Command::new("tshark")
        .arg("-r")
        .arg(&out)
        .args(["-Y", "http.sec_websocket_key", "-T", "fields"])
        .args(["-e", "http.sec_websocket_key"])
        .output()
    else {
        assert!(!crate::util::under_ci(), "tshark missing in CI");
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        hs[0]["key"].as_str().unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The capture files in `dir` by name, with their packet counts as wssniff reads them.
fn packets_per_file(dir: &Path) -> Vec<(String, u64)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let packets =
                packets_in(&dir.join(&n)).unwrap_or_else(|| panic!("{n}: no packet count"));
            (n, packets)
        })
        .collect()
}

/// The packets of the capture file at `path` as wssniff reads them (pcap or pcapng), or
/// `None` when it cannot say (no such file yet).
fn packets_in(path: &Path) -> Option<u64> {
    let out = wssniff(&["-r", path.to_str()?, "-q"]);
    let err = stderr(&out);
    err.lines()
        .find_map(|l| {
            l.split(" packets (")
                .next()
                .filter(|_| l.contains(" packets ("))
        })
        .and_then(|n| n.trim().parse().ok())
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// `-C` as tcpdump's: a new file once the current one passed the size (`ws`, `ws1`, …), all
/// of them readable back as one capture; files created after `-Z` belong to that user.
/// With `-W 3` the same traffic leaves a ring of three files, `ws0`…`ws2`.
#[test]
fn live_write_rotates_by_size_and_in_a_ring() {
    let Some(ns) = Netns::new("rotsize") else {
        return;
    };
    let nobody = uid_of("nobody");
    for ring in [false, true] {
        let dir = temp_dir(if ring { "rot-ring" } else { "rot-size" });
        // Rotated files are created by the -Z user: the folder must let it (as for tcpdump).
        Command::new("chmod").arg("777").arg(&dir).status().unwrap();
        let base = dir.join("ws");
        // --duration only as a backstop: stopped (SIGINT) once the last frame is written.
        let mut args = vec!["-i", "vb", "-q", "-Z", "nobody", "--duration", "60"];
        args.extend(["-w", base.to_str().unwrap(), "-C", "0.01"]);
        if ring {
            args.extend(["-W", "3"]);
        }
        // Only the test's frames (not the IPv6 neighbour discovery of a link coming up).
        args.extend(["ether", "proto", "0x88b5"]);
        let mut child = ns.wssniff(&args);
        let reader = listening(&mut child);
        // 60 frames of 1000 bytes: a file takes 10 (10,000 bytes passed after the 10th).
        ns.traffic(60);
        wait_until("the 60th frame in a file", || {
            last_frame_number(&dir) == Some(59)
        });
        interrupt(&child);
        let status = child.wait().unwrap();
        let err = reader.join().unwrap();
        assert!(status.success(), "{err}");
        let files = packets_per_file(&dir);
        if ring {
            let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["ws0", "ws1", "ws2"], "{files:?}");
            assert!(files.iter().all(|(_, p)| *p == 10), "{files:?}");
        } else {
            let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                ["ws", "ws1", "ws2", "ws3", "ws4", "ws5"],
                "{files:?}"
            );
            assert!(files.iter().all(|(_, p)| *p == 10), "{files:?}");
            // Read back as one capture: every frame, in order.
            let out = wssniff(&["-r", dir.to_str().unwrap(), "-q"]);
            assert!(stderr(&out).contains("60 packets"), "{}", stderr(&out));
        }
        for (name, _) in &files {
            assert_eq!(mode_and_owner(&dir.join(name)), (0o600, nobody), "{name}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// `-G 1 -W 2`: a new file each second of packet time, named by strftime (`%s`), and the
/// capture stops by itself once two files are written, as tcpdump's does (exit 0).
#[test]
fn live_write_rotates_by_time_and_stops_after_w_files() {
    let Some(ns) = Netns::new("rottime") else {
        return;
    };
    let dir = temp_dir("rot-time");
    // The second file is created by the -Z user (nobody): the folder must let it.
    Command::new("chmod").arg("777").arg(&dir).status().unwrap();
    let base = dir.join("ws-%s.pcap");
    let started = Instant::now();
    let mut child = ns.wssniff(&[
        "-i",
        "vb",
        "-q",
        // Far beyond the bursts' end, so stopping before it is -W's doing.
        "--duration",
        "120",
        "-w",
        base.to_str().unwrap(),
        "-G",
        "1",
        "-W",
        "2",
        "ether",
        "proto",
        "0x88b5",
    ]);
    let reader = listening(&mut child);
    // A burst a second (packet time decides -G) until wssniff stops by itself: three bursts
    // do it on an idle machine; a loaded one may need more (each burst starts a Python).
    wait_until("wssniff to stop after two files", || {
        ns.traffic(5);
        std::thread::sleep(Duration::from_millis(1100));
        child.try_wait().unwrap().is_some()
    });
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "stopped by -W, not by --duration"
    );
    let files = packets_per_file(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let secs: Vec<i64> = files
        .iter()
        .map(|(n, _)| {
            n.strip_prefix("ws-")
                .and_then(|n| n.strip_suffix(".pcap"))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(secs[1] - secs[0] >= 1, "{files:?}");
    // Whole seconds, as tcpdump counts them: the first file may end before its first frame
    // (the clock passed a second between opening it and the first burst); the two hold at
    // least a burst between them, and nothing after the second file's time was written.
    assert!(files.iter().map(|(_, p)| p).sum::<u64>() >= 5, "{files:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Sends the frames of classic pcap files (the arguments after the interface) out on an
/// interface, in order, addressed to a MAC that is not the peer's, so only captures see them.
/// A socket asking for receive timestamps makes the kernel stamp every frame once as it
/// arrives, so every capture of it has the same timestamp (else each capture socket reads
/// the clock itself).
const REPLAY_ON: &str = r#"
import socket, struct, sys, time
stamps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
stamps.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for path in sys.argv[2:]:
    data = open(path, 'rb').read()
    assert struct.unpack('<I', data[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d), path
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack('<I', data[off + 8:off + 12])[0]
        frame = bytearray(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
        frame[0:6] = b'\x02\x00\x00\x00\x00\x01'
        s.send(bytes(frame))
        time.sleep(0.0005)
"#;

/// Every bundled Ethernet sample (plaintext, TLS with its keys, h2), one after the other.
fn replayable_samples() -> (Vec<PathBuf>, String) {
    let mut pcaps = Vec::new();
    let mut keys = String::new();
    for folder in ["", "tls", "tls-suites", "h2tls"] {
        let dir = root().join("samples").join(folder);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
            // Linux cooked, not Ethernet.
            .filter(|p| !p.to_string_lossy().contains("sll2"))
            // Classic little-endian pcap only (a few samples are pcapng under the name).
            .filter(|p| {
                let head = std::fs::read(p).unwrap();
                matches!(
                    head.get(..4),
                    Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1])
                )
            })
            .collect();
        names.sort();
        for p in &names {
            if let Ok(k) = std::fs::read_to_string(p.with_extension("keys")) {
                keys.push_str(&k);
            }
        }
        pcaps.extend(names);
    }
    (pcaps, keys)
}

/// `-i` with `--threads 2` against `--threads 1`, both capturing the same replayed traffic
/// (every sample, TLS decrypted with a key log): the same JSON lines in the same order, and
/// the same `-w --write-handshakes-only` file byte for byte (the per-packet upgrade flag
/// reaches the writer in packet order).
#[test]
fn live_threads_give_the_output_of_one_thread() {
    let Some(ns) = Netns::new("threads") else {
        return;
    };
    for dev in ["va", "vb"] {
        ns.run(&["ip", "link", "set", dev, "mtu", "65535"]);
    }
    let dir = temp_dir("live-threads");
    let script = dir.join("replay.py");
    std::fs::write(&script, REPLAY_ON).unwrap();
    let (pcaps, keys) = replayable_samples();
    assert!(pcaps.len() > 60, "{pcaps:?}");
    let keylog = dir.join("all.keys");
    std::fs::write(&keylog, keys).unwrap();
    let mut sniffers = Vec::new();
    for threads in ["1", "2"] {
        let written = dir.join(format!("upgrades-{threads}.pcap"));
        let mut child = ns.wssniff(&[
            "-i",
            "vb",
            "--json",
            "--threads",
            threads,
            // Nothing may depend on when the clock ticks: no timeout passes during the test.
            "--response-timeout",
            "120",
            "--keylog",
            keylog.to_str().unwrap(),
            "-w",
            written.to_str().unwrap(),
            "--write-handshakes-only",
            "tcp",
        ]);
        let reader = listening(&mut child);
        // Read as it comes: a full pipe would stall the analysis.
        let out = lines_of(child.stdout.take().unwrap());
        sniffers.push((child, reader, out, written));
    }
    // The marker last: once a sniffer printed its handshake, it analysed all before it.
    let marker = dir.join("marker.pcap");
    write_marker(&marker);
    let mut replay = vec!["python3", script.to_str().unwrap(), "va"];
    replay.extend(pcaps.iter().map(|p| p.to_str().unwrap()));
    replay.push(marker.to_str().unwrap());
    ns.run(&replay);
    let mut outputs = Vec::new();
    for (mut child, reader, out, written) in sniffers {
        let mut lines = Vec::new();
        wait_until("the marker's handshake", || {
            lines.extend(out.try_iter());
            lines.iter().any(|l: &String| l.contains(MARKER_PATH))
        });
        let pid = child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        lines.extend(out.iter());
        let out: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let status = child.wait().unwrap();
        let err = reader.join().unwrap();
        assert!(status.success(), "{err}");
        assert!(err.contains(" 0 dropped by kernel"), "{err}");
        outputs.push((out, err, std::fs::read(&written).unwrap()));
    }
    let (one, two) = (&outputs[0], &outputs[1]);
    let handshakes = one
        .0
        .lines()
        .filter(|l| l.contains(r#""type":"handshake""#));
    assert!(handshakes.count() > 80, "{}", one.0);
    assert!(one.1.contains("decrypted"), "{}", one.1);
    // The two sniffers are two AF_PACKET sockets: when the skb carries no timestamp each
    // socket stamps the packet itself, microseconds apart under load. Times are the one
    // thing that may differ; everything else must not.
    for (a, b) in one.0.lines().zip(two.0.lines()) {
        assert_eq!(
            without_times(a),
            without_times(b),
            "--threads 2 differs from --threads 1:\n{a}\n{b}"
        );
    }
    assert_eq!(one.0.lines().count(), two.0.lines().count());
    assert!(one.2.len() > 100_000, "{} bytes written", one.2.len());
    assert!(
        pcap_without_times(&one.2) == pcap_without_times(&two.2),
        "the -w --write-handshakes-only files differ"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The path of the marker's handshake ([`write_marker`]).
const MARKER_PATH: &str = "/replay-done-marker";

/// Writes to `path` a capture of one WebSocket handshake to [`MARKER_PATH`] between
/// addresses no sample uses (10.99.0.1 → 10.99.0.2:80), replayed after the samples: a
/// sniffer that printed its record analysed every packet replayed before it.
fn write_marker(path: &Path) {
    use crate::packet::{pcap, v4, Link, Tcp};
    let (client, server) = (v4([10, 99, 0, 1], 40_000), v4([10, 99, 0, 2], 80));
    let request = format!(
        "GET {MARKER_PATH} HTTP/1.1\r\nHost: marker\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let link = Link::Ethernet {
        src: [2, 0, 0, 0, 0, 2],
        dst: [2, 0, 0, 0, 0, 1],
    };
    let after_request = 101 + u32::try_from(request.len()).unwrap();
    let packets = [
        Tcp::new(client, server, 100, 0, "S", b"").build(link),
        Tcp::new(server, client, 500, 101, "SA", b"").build(link),
        Tcp::new(client, server, 101, 501, "A", request.as_bytes()).build(link),
        Tcp::new(server, client, 501, after_request, "A", response.as_bytes()).build(link),
    ];
    let file = pcap::file(
        pcap::LINKTYPE_ETHERNET,
        65_535,
        1_800_000_000,
        packets.iter().map(Vec::as_slice),
    );
    std::fs::write(path, file).unwrap();
}

/// A JSON line with every time value (`ts`, `*_ts`, `*_ms`, `broken_at`) nulled.
fn without_times(line: &str) -> serde_json::Value {
    fn blur(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    let time = key == "ts"
                        || key.ends_with("_ts")
                        || key.ends_with("_ms")
                        || key == "broken_at";
                    if time && v.is_number() {
                        *v = serde_json::Value::Null;
                    } else {
                        blur(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(blur),
            // A finding's words quote durations too ("after 1.2 ms of silence").
            serde_json::Value::String(text) => *text = durations_blurred(text),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    blur(&mut value);
    value
}

/// `text` with every number followed by a unit of time (`1.2 ms`, `3 s`, `40 µs`) written
/// `<time>`.
fn durations_blurred(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..at]);
        let number_end = rest[at..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(rest.len(), |n| at + n);
        let after = &rest[number_end..];
        let unit = [" ms", " µs", " ns", " s"].into_iter().find(|u| {
            after.starts_with(u) && !after[u.len()..].starts_with(|c: char| c.is_alphanumeric())
        });
        match unit {
            Some(u) => {
                out.push_str("<time>");
                rest = &after[u.len()..];
            }
            None => {
                out.push_str(&rest[at..number_end]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The records of a classic pcap file (what `-w` writes) without their timestamps: the
/// header's lengths and the packet bytes.
fn pcap_without_times(file: &[u8]) -> Vec<&[u8]> {
    let mut records = Vec::new();
    let mut at = 24;
    while let Some(header) = file.get(at..at + 16) {
        let caplen = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        records.push(&header[8..16]);
        records.push(&file[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    assert_eq!(
        at,
        file.len(),
        "a pcap record runs past the end of the file"
    );
    records
}

/// `-G` names are strftime in local time, as tcpdump's (`localtime`): `TZ` from the
/// environment decides, here a POSIX rule 5 h 30 east of UTC, named WSS.
#[test]
fn live_write_rotation_names_are_in_the_local_time_of_tz() {
    let Some(ns) = Netns::new("rottz") else {
        return;
    };
    let dir = temp_dir("rot-tz");
    let base = dir.join("ws-%Y%m%d-%H%M%S-%Z-%s.pcap");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_wssniff")])
        .args(["-i", "vb", "-q", "--duration", "60", "-G", "60", "-w"])
        .arg(&base)
        .args(["ether", "proto", "0x88b5"])
        .env("TZ", "WSS-5:30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = listening(&mut child);
    ns.traffic(3);
    // --duration is a backstop: stopped once the three frames are written.
    wait_until("the three frames in a file", || {
        last_frame_number(&dir) == Some(2)
    });
    interrupt(&child);
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    let files = packets_per_file(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0].0;
    let epoch: i64 = name
        .trim_end_matches(".pcap")
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let east = jiff::tz::Offset::from_seconds(5 * 3600 + 30 * 60).unwrap();
    let t = east.to_datetime(jiff::Timestamp::from_second(epoch).unwrap());
    let local = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    assert_eq!(name, &format!("ws-{local}-WSS-{epoch}.pcap"), "{files:?}");
    assert_eq!(files[0].1, 3);
    std::fs::remove_dir_all(&dir).ok();
}

/// `--write-secrets` with `-C`: every rotated pcapng file the decrypted connection reaches
/// carries its session's secrets ahead of its packets there, and the files read back as one
/// capture decrypt without a key log.
#[test]
fn live_write_secrets_rotates_with_the_secrets_in_every_file() {
    let Some(ns) = Netns::new("rotsecrets") else {
        return;
    };
    let dir = temp_dir("live-secrets-rotated");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    // Rotated files are created by the user privileges were dropped to.
    Command::new("chmod")
        .arg("777")
        .arg(&files)
        .status()
        .unwrap();
    let script = dir.join("replay.py");
    std::fs::write(&script, REPLAY_ON).unwrap();
    let pcap = sample("tls/tls13-wss-python-ok.pcap");
    let keys = sample("tls/tls13-wss-python-ok.keys");
    let base = files.join("ws.pcapng");
    let mut child = ns.wssniff(&[
        "-i",
        "vb",
        "-q",
        // A backstop: stopped (SIGINT) once every replayed packet is written.
        "--duration",
        "60",
        "--keylog",
        keys.to_str().unwrap(),
        "-w",
        base.to_str().unwrap(),
        "--write-secrets",
        "-C",
        "0.002",
        "tcp",
    ]);
    let reader = listening(&mut child);
    ns.run(&[
        "python3",
        script.to_str().unwrap(),
        "va",
        pcap.to_str().unwrap(),
    ]);
    let sent = pcap_records(&pcap) as u64;
    wait_until("every replayed packet in the files", || {
        let names = std::fs::read_dir(&files).unwrap();
        let written: u64 = names
            .map(|e| packets_in(&e.unwrap().path()).unwrap_or(0))
            .sum();
        written == sent
    });
    interrupt(&child);
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    let secret = std::fs::read_to_string(&keys).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("SERVER_TRAFFIC_SECRET_0"))
        .unwrap()
        .to_owned();
    // Files in the order written: ws.pcapng, ws.pcapng1, … (the number after the name).
    let mut names: Vec<(u32, PathBuf)> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let n = p
                .to_string_lossy()
                .rsplit("pcapng")
                .next()
                .unwrap()
                .to_owned();
            (n.parse().unwrap_or(0), p)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    let with: Vec<bool> = names
        .iter()
        .map(|(_, p)| String::from_utf8_lossy(&std::fs::read(p).unwrap()).contains(&secret))
        .collect();
    let first = with.iter().position(|&w| w).expect("secrets in some file");
    assert!(
        with[first..].iter().all(|&w| w),
        "every file from the ServerHello on has the secrets: {with:?}"
    );
    let back = all_records(&files, &[]);
    let hs: Vec<_> = back.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(hs.len(), 1, "{back:#?}");
    assert_eq!(hs[0]["verdict"], "ok");
    std::fs::remove_dir_all(&dir).ok();
}

/// The summary's count of packets analysed and its capture line's captured and shed counts.
fn analysed_captured_shed(err: &str) -> (u64, u64, u64) {
    let number_before = |line: &str, words: &str| -> Option<u64> {
        let at = line.find(words)?;
        line[..at].split_whitespace().last()?.parse().ok()
    };
    let analysed = err
        .lines()
        .find_map(|l| number_before(l, " packets ("))
        .unwrap_or_else(|| panic!("no packet count: {err}"));
    let capture = err
        .lines()
        .find(|l| l.contains("packets captured,"))
        .unwrap_or_else(|| panic!("no capture line: {err}"));
    let captured = number_before(capture, " packets captured").unwrap();
    let shed = number_before(capture, " shed by wssniff").unwrap();
    (analysed, captured, shed)
}

#[test]
fn sigint_analyses_every_packet_already_captured() {
    // A burst on lo faster than the (debug) analysis, then SIGINT at once: what the capture
    // thread read before the signal is analysed, not dropped from the queue (it was: the
    // summary counted fewer packets than the capture line said were captured and not shed).
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let filter = format!("udp port {port}");
    // Three rounds each: a round whose queue happened to be empty at the signal proves
    // nothing (on the old code one round in three still passed).
    for threads in ["1", "1", "1", "2", "2", "2"] {
        let s = Sniffer::start(&["--json", "--threads", threads, "-B", "65536", &filter]);
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..60_000u32 {
            let _ = client.send_to(&i.to_be_bytes(), ("127.0.0.1", port));
        }
        s.interrupt();
        let (code, _, err) = s.finish(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{err}");
        let (analysed, captured, shed) = analysed_captured_shed(&err);
        assert!(captured > 0, "{err}");
        assert_eq!(
            analysed,
            captured - shed,
            "--threads {threads}: every packet captured and not shed is analysed: {err}"
        );
    }
}
