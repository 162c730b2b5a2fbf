//! Credential redaction on a capture of real peers (`samples/credentials-redacted.pcap`:
//! Python `websockets` sending a bearer token, a cookie, an API key, `?token=`, a Kubernetes
//! bearer subprotocol and a Socket.IO-style `40{"token":…}` message; the server setting a
//! session cookie): no secret byte reaches any output by default, equal credentials get
//! equal hashes, other keys other hashes, and `--no-redact` shows everything.

use std::path::{Path, PathBuf};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use wssniff::engine::EngineConfig;
use wssniff::present::Redactor;
use wssniff::tui::action::Action;
use wssniff::tui::app::App;
use wssniff::tui::export;
use wssniff::tui::feed::read_all_with;
use wssniff::tui::render::{detail_lines, layout, render};

use crate::util::*;

const SAMPLE: &str = "credentials-redacted.pcap";

/// Every secret the sample's peers sent (samples/gen/pyws.py), and the k8s token's base64url.
const SECRETS: &[&str] = &[
    "s3cret-bearer-7f1d",
    "s3cret-wrong-33aa",
    "s3cret-query-91ab",
    "s3cret-cookie-5c2e",
    "s3cret-setcookie-e41b",
    "s3cret-apikey-0d4f",
    "s3cret-message-a8e3",
    "czNjcmV0LWs4cy02YjJk",
];

fn leaked(text: &str) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wssniff-redact-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> (String, String) {
    let out = wssniff(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// Every output of a file run with `extra` flags: -v lines, --json, -o, the three reports.
fn every_output(extra: &[&str]) -> Vec<(String, String)> {
    let p = sample(SAMPLE);
    let p = p.to_str().unwrap();
    let dir = temp_dir(&format!("outputs{}", extra.len()));
    let mut outputs = Vec::new();
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    for args in [
        vec!["-r", p, "-v"],
        vec!["-r", p, "--json"],
        vec!["-r", p],
        vec!["-r", p, "-q"],
    ] {
        let args = with(&args);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = run(&refs);
        outputs.push((format!("{args:?} stdout"), out));
        outputs.push((format!("{args:?} stderr"), err));
    }
    for file in ["o.jsonl", "r.html", "r.md", "r.json"] {
        let path = dir.join(file);
        let flag = if file.starts_with('o') {
            "-o"
        } else {
            "--report"
        };
        let args = with(&["-r", p, "-q", flag, path.to_str().unwrap()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs);
        outputs.push((file.to_owned(), std::fs::read_to_string(&path).unwrap()));
    }
    std::fs::remove_dir_all(&dir).ok();
    outputs
}

#[test]
fn no_secret_reaches_any_output_by_default() {
    for (what, text) in every_output(&[]) {
        assert_eq!(leaked(&text), Vec::<&str>::new(), "{what}:\n{text}");
    }
    // And the redaction is visible, not a silent drop: placeholders where the values were.
    let (v, _) = run(&["-r", sample(SAMPLE).to_str().unwrap(), "-v"]);
    for line in [
        "> Authorization: Bearer <redacted:",
        "> Cookie: session=<redacted:",
        "> X-Api-Key: <redacted:",
        "< Set-Cookie: session=<redacted:",
        "GET /chat?token=<redacted:",
        "base64url.bearer.authorization.k8s.io.<redacted:",
    ] {
        assert!(v.contains(line), "{line} in\n{v}");
    }
    // What is not a credential stays: the cookie attributes, the chosen subprotocol, the
    // 401 challenge, the other query parameter.
    for kept in [
        "Path=/; HttpOnly; SameSite=Strict",
        "v4.channel.k8s.io",
        "WWW-Authenticate: Bearer realm=\"wssniff\", error=\"invalid_token\"",
        "&room=lobby",
    ] {
        assert!(v.contains(kept), "{kept} in\n{v}");
    }
}

#[test]
fn no_redact_shows_every_value() {
    let all: String = every_output(&["--no-redact"])
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(leaked(&all), SECRETS, "{all}");
    assert!(!all.contains("<redacted"), "{all}");
}

/// The placeholder a JSON handshake record's request header `name` has.
fn header(record: &serde_json::Value, name: &str) -> String {
    record["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .map(|h| h["value"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn equal_credentials_hash_alike_across_handshakes_runs_and_places() {
    let recs = records(&sample(SAMPLE), &[]);
    assert_eq!(recs.len(), 3);
    let auth: Vec<String> = recs.iter().map(|r| header(r, "Authorization")).collect();
    // Handshakes 1 and 2 sent the same bearer token, 3 a wrong one.
    assert!(auth[0].starts_with("Bearer <redacted:"), "{auth:?}");
    assert_eq!(auth[0], auth[1]);
    assert_ne!(auth[0], auth[2]);
    // The same cookie every time.
    assert_eq!(header(&recs[0], "Cookie"), header(&recs[2], "Cookie"));
    // One token, one hash, wherever it is shown: the path field, the request line, the
    // raw head, the report.
    let path = recs[0]["path"].as_str().unwrap();
    let token = &path[path.find("token=").unwrap() + 6..path.find('&').unwrap()];
    assert!(token.starts_with("<redacted:"), "{path}");
    assert!(recs[0]["request"]["start_line"]
        .as_str()
        .unwrap()
        .contains(token));
    // The client's and the server's (echoed) first message carry the same token.
    let conns = connections(&sample(SAMPLE), &[]);
    let previews: Vec<&str> = conns
        .iter()
        .flat_map(|c| {
            [
                c["client_to_server"]["preview"].as_str().unwrap(),
                c["server_to_client"]["preview"].as_str().unwrap(),
            ]
        })
        .collect();
    assert!(
        previews[0].starts_with("40{\"token\":\"<redacted:"),
        "{previews:?}"
    );
    assert!(previews.iter().all(|p| *p == previews[0]), "{previews:?}");
    // A second run with the same key gives the same bytes.
    let p = sample(SAMPLE);
    let p = p.to_str().unwrap();
    assert_eq!(run(&["-r", p, "--json"]).0, run(&["-r", p, "--json"]).0);
}

#[test]
fn another_key_gives_other_hashes_and_a_missing_key_file_is_created_private() {
    let dir = temp_dir("key");
    let key = dir.join("team.key");
    let p = sample(SAMPLE);
    let p = p.to_str().unwrap();
    let (first, err) = run(&[
        "-r",
        p,
        "--json",
        "--redact-key-file",
        key.to_str().unwrap(),
    ]);
    assert!(err.contains("created the redaction key"), "{err}");
    assert_eq!(leaked(&first), Vec::<&str>::new());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Kept: the next run reuses it, silently, with the same hashes.
    let (second, err) = run(&[
        "-r",
        p,
        "--json",
        "--redact-key-file",
        key.to_str().unwrap(),
    ]);
    assert!(!err.contains("redaction key"), "{err}");
    assert_eq!(first, second);
    // The tests' fixed key hashes the same values differently.
    let (fixed, _) = run(&["-r", p, "--json"]);
    assert_ne!(first, fixed);
    let placeholders = |s: &str| s.matches("<redacted:").count();
    assert_eq!(placeholders(&first), placeholders(&fixed));
    // The default place, under XDG_CONFIG_HOME: created with a private folder.
    let home = dir.join("config");
    let out = command()
        .env("XDG_CONFIG_HOME", &home)
        .args(["-r", p, "-q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("created the redaction key"),
        "{}",
        stderr(&out)
    );
    let default_key = home.join("wssniff/redact.key");
    assert_eq!(std::fs::read(&default_key).unwrap().len(), 65);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("wssniff"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    // A key too short to be one is refused.
    let short = dir.join("short.key");
    std::fs::write(&short, "abc\n").unwrap();
    let out = wssniff(&["-r", p, "--redact-key-file", short.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at least 16 bytes"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn test_redactor() -> Redactor {
    let key = std::fs::read(test_config_home().join("wssniff/redact.key")).unwrap();
    Redactor::new(key.trim_ascii_end()).unwrap()
}

fn tui_app(redactor: Redactor) -> App {
    let enabled = redactor.is_enabled();
    let mut app = App::new("file samples/credentials-redacted.pcap", None).redacted(enabled);
    let path = sample(SAMPLE);
    for feed in read_all_with(path.to_str().unwrap(), EngineConfig::default(), redactor).unwrap() {
        app.apply_feed(feed);
    }
    app
}

fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.set_table_rows(layout(ratatui::layout::Rect::new(0, 0, width, height)).table_rows());
    terminal.draw(|f| render(f, f.area(), app)).unwrap();
    terminal.backend().to_string()
}

/// Everything the TUI can show of every record: the table, each detail view drawn (at a
/// size where it fits), its full detail text, its JSON export and its curl line.
fn tui_texts(app: &mut App, export_dir: &Path) -> Vec<String> {
    let mut texts = vec![draw(app, 160, 48)];
    for i in 0..app.record_count() {
        let r = app.record(i).unwrap().clone();
        let lines = detail_lines(&r, app.connection_at(i), app.hop_at(i));
        texts.push(
            lines
                .iter()
                .map(|l| {
                    l.spans
                        .iter()
                        .map(|s| s.content.as_ref())
                        .collect::<String>()
                        + "\n"
                })
                .collect(),
        );
        let json = export::export_json(export_dir, &r).unwrap();
        texts.push(std::fs::read_to_string(json).unwrap());
        texts.push(wssniff::present::curl_command(&r).unwrap());
    }
    app.update(Action::Top);
    app.update(Action::Open);
    for _ in 0..4 {
        texts.push(draw(app, 160, 48));
        app.update(Action::Page(1));
    }
    texts
}

#[test]
fn the_tui_shows_placeholders_in_tables_details_exports_curl_and_hex() {
    let dir = temp_dir("tui");
    let mut app = tui_app(test_redactor());
    assert_eq!(app.record_count(), 3);
    let texts = tui_texts(&mut app, &dir);
    for t in &texts {
        assert_eq!(leaked(t), Vec::<&str>::new(), "{t}");
    }
    let all = texts.concat();
    assert!(all.contains("Authorization: Bearer <redacted:"), "{all}");
    // The curl line is a placeholder replay, and says so.
    let curl = wssniff::present::curl_command(app.record(0).unwrap()).unwrap();
    assert!(
        curl.contains("-H 'Authorization: Bearer <redacted:"),
        "{curl}"
    );
    assert!(wssniff::present::curl_replay_note(&curl).is_some());
    // The hex view reads raw packets again: their credential bytes are masked too.
    let path = sample(SAMPLE);
    let record = app.record(0).unwrap();
    let raw = export::load_hex(path.to_str(), None, record, false);
    let masked = export::load_hex(path.to_str(), None, record, true);
    let bytes = |d: &wssniff::tui::app::HexDump| -> String {
        d.packets
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    assert!(
        !leaked(&bytes(&raw)).is_empty(),
        "the raw packets hold the secrets"
    );
    assert_eq!(
        leaked(&bytes(&masked)),
        Vec::<&str>::new(),
        "{}",
        bytes(&masked)
    );
    assert!(bytes(&masked).contains("Authorization: Bearer ******************\r\n"));
    assert!(masked.note.as_deref().unwrap().contains("--no-redact"));
    assert_eq!(
        raw.packets.iter().map(|p| p.1.len()).collect::<Vec<_>>(),
        masked.packets.iter().map(|p| p.1.len()).collect::<Vec<_>>()
    );
    // Without redaction the TUI shows the values (and the curl line is a real replay).
    let mut open = tui_app(Redactor::disabled());
    let all = tui_texts(&mut open, &dir).concat();
    // Every secret but the message's: the TUI does not show message previews.
    let shown: Vec<&str> = SECRETS
        .iter()
        .copied()
        .filter(|s| *s != "s3cret-message-a8e3")
        .collect();
    assert_eq!(leaked(&all), shown, "{all}");
    let curl = wssniff::present::curl_command(open.record(0).unwrap()).unwrap();
    assert!(wssniff::present::curl_replay_note(&curl).is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_report_says_its_curl_lines_hold_placeholders() {
    let dir = temp_dir("report-note");
    let p = sample(SAMPLE);
    for (file, redacted) in [("r.md", true), ("r.html", true), ("open.md", false)] {
        let path = dir.join(file);
        let mut args = vec![
            "-r",
            p.to_str().unwrap(),
            "-q",
            "--report",
            path.to_str().unwrap(),
        ];
        if !redacted {
            args.push("--no-redact");
        }
        run(&args);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.contains("redaction placeholders: run wssniff with --no-redact"),
            redacted,
            "{file}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_copy_free_check_agrees_with_the_redaction_on_every_sample() {
    // A record is copied only when `handshake_needs` says something in it is masked: it must
    // say so exactly when redacting changes the record.
    let redactor = test_redactor();
    let mut needing = 0;
    let mut engineio = 0;
    for name in &sample_names() {
        let path = sample(name);
        for feed in
            wssniff::tui::feed::read_all(path.to_str().unwrap(), EngineConfig::default()).unwrap()
        {
            if let wssniff::tui::feed::Feed::Event(wssniff::event::Event::Handshake(r)) = feed {
                let mut copy = (*r).clone();
                redactor.handshake(&mut copy);
                let needs = redactor.handshake_needs(&r);
                assert_eq!(needs, copy != *r, "{name} #{}", r.id);
                // Engine.IO upgrades carry their session's sid in the target (issue 14).
                if name.starts_with("engineio-") {
                    engineio += usize::from(needs);
                } else {
                    needing += usize::from(needs);
                }
            }
        }
    }
    assert_eq!(needing, 3, "the three handshakes of {SAMPLE}");
    // Every websocket attempt that names a sid, on both proxy legs (engineio-two-sessions
    // brought the twelfth).
    assert_eq!(engineio, 12, "the engineio samples' upgrades with a sid");
}
