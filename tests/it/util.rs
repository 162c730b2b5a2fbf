use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
}

/// The bundled capture files (`samples/*.pcap`, `*.pcapng`), sorted.
pub fn sample_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    v.sort();
    v
}

pub fn wssniff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wssniff"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run wssniff")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Handshake records of a capture, as parsed JSON.
pub fn records(path: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    of_type(all_records(path, extra), "handshake")
}

/// WebSocket connection records of a capture, as parsed JSON.
pub fn connections(path: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    of_type(all_records(path, extra), "connection")
}

fn of_type(recs: Vec<serde_json::Value>, kind: &str) -> Vec<serde_json::Value> {
    recs.into_iter().filter(|r| r["type"] == kind).collect()
}

/// Every JSON record of a capture.
pub fn all_records(path: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let p = path.to_str().unwrap();
    let mut args = vec!["-r", p, "--json"];
    args.extend_from_slice(extra);
    let out = wssniff(&args);
    assert!(
        out.status.success(),
        "wssniff -r {p} failed: {}",
        stderr(&out)
    );
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// Finding codes of one record.
pub fn codes(record: &serde_json::Value) -> Vec<String> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}
