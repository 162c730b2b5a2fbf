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

/// Whether a folder of optional captures can be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Fixture {
    /// It is there.
    Present,
    /// It is missing and this is a user's run: skip, saying why.
    Skip(String),
    /// It is missing and this is a CI run: a test that checks nothing must not pass.
    Fail(String),
}

/// Whether a `CI` value names a CI run (`true`, `1` or `yes`, as GitHub Actions and GitLab set
/// it); `CI=false` or `CI=0` is a developer's run.
fn is_ci_value(v: &str) -> bool {
    ["true", "1", "yes"]
        .iter()
        .any(|t| v.trim().eq_ignore_ascii_case(t))
}

/// This is a CI run: a missing tool or fixture fails the test instead of skipping it. The one
/// rule every such check uses.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| is_ci_value(&v))
}

/// The rule for optional captures kept outside the repository: `dir` counts as present when
/// it holds `marker`; when it does not, a CI run (the `CI` variable, here `ci`, set to
/// `true`, `1` or `yes`, as GitHub Actions and GitLab set it) fails and any other run skips.
pub fn fixture(dir: &Path, marker: &str, ci: Option<&str>) -> Fixture {
    if dir.join(marker).is_file() {
        return Fixture::Present;
    }
    let ci = ci.is_some_and(is_ci_value);
    let what = format!("{} not present (no {marker})", dir.display());
    if ci {
        Fixture::Fail(format!(
            "{what}, and CI is set: provide the folder to the CI job, or these tests check nothing"
        ))
    } else {
        Fixture::Skip(format!(
            "skipped: {what}; set CI=true to make this a failure"
        ))
    }
}

/// The third-party captures (`../shared/samples/public`, not in the repository, or the
/// folder `WSSNIFF_PUBLIC_CAPTURES` names, e.g. from a git worktree), or `None` after saying
/// the test is skipped; panics under `CI=true` when they are missing.
pub fn public_captures() -> Option<PathBuf> {
    let dir = std::env::var_os("WSSNIFF_PUBLIC_CAPTURES")
        .map_or_else(|| root().join("../shared/samples/public"), PathBuf::from);
    match fixture(
        &dir,
        "ground-truth.json",
        std::env::var("CI").ok().as_deref(),
    ) {
        Fixture::Present => Some(dir),
        Fixture::Skip(why) => {
            eprintln!("{why}");
            None
        }
        Fixture::Fail(why) => panic!("{why}"),
    }
}

/// The configuration folder every test run of the binary gets (`XDG_CONFIG_HOME`): it holds
/// the fixed redaction key `wssniff/redact.key`, so redaction hashes are the same on every
/// machine (goldens stay deterministic) and no test creates a key in the tester's home.
pub fn test_config_home() -> PathBuf {
    root().join("tests/it/config")
}

/// A command running the wssniff binary with the test configuration folder.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wssniff"));
    c.env("XDG_CONFIG_HOME", test_config_home());
    c
}

pub fn wssniff(args: &[&str]) -> Output {
    command()
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
