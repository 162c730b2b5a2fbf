//! `--report`: golden Markdown and JSON per sample (regenerate with WSSNIFF_BLESS=1 after
//! reviewing the diff), structural checks of the HTML, proxy hop correlation on the two nginx
//! captures, and one headless-Chromium render.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Fixed generation time so reports are byte-for-byte reproducible.
const EPOCH: &str = "1700000000";

/// A fresh path for `name`: tests run in parallel and several write the same sample's report,
/// so each call gets its own directory (a shared path let one test read another's half-written
/// file). The directory goes when the returned guard drops: Chromium profiles are megabytes
/// each, and every run used to leave them in the temporary directory.
fn tmp(name: &str) -> Scratch {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wssniff-report-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch {
        path: dir.join(name),
        dir,
    }
}

/// A path inside a scratch directory of its own, removed on drop.
struct Scratch {
    dir: PathBuf,
    path: PathBuf,
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `wssniff -q -r samples/<sample> --report <out>` from the crate root (so the report
/// names the file by its relative path) and returns the report text.
fn report(sample_name: &str, ext: &str) -> String {
    let out = tmp(&format!("{sample_name}.{ext}"));
    let o = crate::util::command()
        .current_dir(root())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["-q", "-r", &format!("samples/{sample_name}"), "--report"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{sample_name}: {}", stderr(&o));
    std::fs::read_to_string(&out).unwrap()
}

fn json(sample_name: &str) -> serde_json::Value {
    serde_json::from_str(&report(sample_name, "json")).unwrap()
}

#[test]
fn markdown_and_json_match_golden_files() {
    let bless = std::env::var_os("WSSNIFF_BLESS").is_some();
    let dir = root().join("tests/it/golden");
    let mut checked = 0;
    for name in sample_names() {
        for ext in ["md", "json"] {
            let actual = report(&name, ext);
            let path = dir.join(format!("{name}.{ext}"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("missing {}; run with WSSNIFF_BLESS=1", path.display()));
            assert_eq!(
                actual,
                expected,
                "{name}.{ext} differs from {}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} golden files checked");
}

#[test]
fn reports_are_deterministic() {
    let a = report("curl-bad-requests.pcap", "html");
    let b = report("curl-bad-requests.pcap", "html");
    assert_eq!(a, b);
    assert!(
        a.contains("2023-11-14 22:13:20"),
        "SOURCE_DATE_EPOCH not used"
    );
}

/// Element names opened and closed in `html`, checked as a stack. Our HTML is generated, so
/// a small tag scanner is enough: it fails on any unclosed or mis-nested element.
fn check_nesting(html: &str) {
    const VOID: &[&str] = &["meta", "br", "!doctype"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("unterminated tag");
        let tag = &after[..end];
        rest = &after[end + 1..];
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect::<String>()
            .to_ascii_lowercase();
        if name == "style" {
            let close = rest.find("</style>").expect("style closed");
            rest = &rest[close + "</style>".len()..];
            continue;
        }
        if tag.starts_with('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> without opener"));
            assert_eq!(open, name, "mis-nested </{name}>");
        } else if !self_closing && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

#[test]
fn html_is_well_formed_self_contained_and_covers_every_failed_handshake() {
    for name in sample_names() {
        let html = report(&name, "html");
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        check_nesting(&html);
        let lower = html.to_ascii_lowercase();
        for banned in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "src=",
            "url(",
            "@import",
            "href=\"http",
            "href=\"//",
            "xlink:href",
        ] {
            assert!(!lower.contains(banned), "{name}: contains {banned}");
        }
        // Every href is an in-page anchor that exists.
        for part in html.split("href=\"").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let id = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{name}: href {target}"));
            assert!(
                html.contains(&format!("id=\"{id}\"")),
                "{name}: dangling #{id}"
            );
        }
        let records = records(&sample(&name), &[]);
        let model = json(&name);
        for r in records.iter().filter(|r| r["verdict"] == "failed") {
            let id = r["id"].as_u64().unwrap();
            // In exactly one section: as a handshake or as a leg of its proxied handshake.
            let ids = |v: &serde_json::Value| -> Vec<u64> {
                std::iter::once(&v["id"])
                    .chain(v["upstream_ids"].as_array().into_iter().flatten())
                    .filter_map(serde_json::Value::as_u64)
                    .collect()
            };
            let sections = model["groups"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| {
                    g["detail"]["id"] == id
                        || g["upstream_legs"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|l| l["id"] == id)
                        || g["occurrences"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|o| ids(o).contains(&id))
                })
                .count();
            assert_eq!(
                sections, 1,
                "{name}: failed handshake #{id} in {sections} sections"
            );
            assert!(
                html.contains(&format!("<td class=\"n\">{id}</td>")),
                "{name}: #{id} not listed"
            );
        }
        let failed_groups = model["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["verdict"] == "failed")
            .count();
        assert_eq!(
            html.matches("<section class=\"group\"").count(),
            model["groups"].as_array().unwrap().len(),
            "{name}"
        );
        if records.iter().any(|r| r["verdict"] == "failed") {
            assert!(failed_groups > 0, "{name}");
            assert!(html.contains("<svg"), "{name}: no charts");
        }
    }
}

#[test]
fn failed_sections_explain_and_reproduce() {
    let md = report("curl-bad-requests.pcap", "md");
    // Each of the four requests is its own group (different paths), with evidence and a fix.
    for path in ["/no-key", "/short-key", "/no-connection", "/post"] {
        assert!(
            md.contains(&format!("` GET {path} `")) || md.contains(&format!("` POST {path} `")),
            "{path}"
        );
        assert!(
            md.contains(&format!("'http://127.0.0.1:18081{path}'")),
            "no curl line for {path}"
        );
    }
    // The curl line one argument per line with `\`, as the TUI's popup lays it out: it
    // wraps on screen and in print without cutting an argument.
    assert!(
        md.contains(
            "curl \\\n  -i \\\n  --http1.1 \\\n  -X 'POST' \\\n  -H 'Host: 127.0.0.1:18081' \\\n"
        ),
        "{md}"
    );
    assert!(md.contains(
        "-- missing: Sec-WebSocket-Key: <base64 of 16 random bytes>    <- request_key_missing"
    ));
    assert!(md.contains("Fix: A hand-made client"));
    assert!(md.contains("- Wireshark: `frame.number == "));
    assert!(md.contains("- community id: `1:"));

    let md = report("handcrafted-bad-accept.pcap", "md");
    assert!(md.contains("(**mismatch**)"), "{md}");
    assert!(
        md.contains(">> Sec-WebSocket-Accept: "),
        "accept line not marked: {md}"
    );
}

#[test]
fn hop_diff_names_the_headers_nginx_stripped() {
    let m = json("nginx-strips-upgrade.pcap");
    let hops = m["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{hops:#?}");
    let h = &hops[0];
    assert_eq!(h["broken_at"], "proxy_request");
    assert_eq!(h["proxy"], "127.0.0.1:18031");
    assert_eq!(h["upstream_server"], "127.0.0.1:18032");
    assert_eq!(h["downstream_status"], 200);
    assert_eq!(h["upstream_status"], 200);
    assert_eq!(h["request_line"][1], "GET /ws HTTP/1.0");
    let changes: Vec<(String, String, bool)> = h["request_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
                c["hop_by_hop"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("dropped".into(), "Upgrade".into(), true)),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("changed".into(), "Connection".into(), true)),
        "{changes:?}"
    );
    let text = h["explanation"].as_str().unwrap();
    assert!(
        text.starts_with("The proxy nginx/1.22.1 at 127.0.0.1:18031 forwarded the request as HTTP/1.0 without `Upgrade` and `Connection: Upgrade`: the upstream at 127.0.0.1:18032 answered 200"),
        "{text}"
    );
    // The client leg links to the hop from its failure section.
    let md = report("nginx-strips-upgrade.pcap", "md");
    assert!(
        md.contains("| dropped (hop-by-hop) | ` Upgrade ` | ` websocket ` | – |"),
        "{md}"
    );
}

/// A proxied handshake is one incident: one problem section holding the hop and both legs,
/// counted once, instead of a section per leg plus a hop section (#16).
#[test]
fn a_proxied_handshake_is_one_incident_with_both_legs() {
    for (name, path) in [
        ("nginx-strips-upgrade.pcap", "/ws"),
        ("nginx-http10-505.pcap", "/chat"),
        ("nginx-no-upgrade-426.pcap", "/chat"),
        ("nginx-504-slow-upstream.pcap", "/chat"),
    ] {
        let m = json(name);
        let groups = m["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{name}: {groups:#?}");
        let g = &groups[0];
        assert_eq!(
            (g["count"].as_u64(), g["detail"]["id"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(g["upstream_legs"][0]["id"], 2, "{name}");
        assert_eq!(g["hops"], serde_json::json!(["hop1"]), "{name}");
        assert_eq!(g["occurrences"][0]["upstream_ids"], serde_json::json!([2]));
        // Every hop is still in the JSON, and both rows of the table lead to the incident.
        assert_eq!(m["hops"].as_array().unwrap().len(), 1);
        for row in m["handshakes"].as_array().unwrap() {
            assert_eq!(row["group"], "g1", "{name}: {row}");
        }

        let md = report(name, "md");
        assert!(!md.contains("## Proxy hops"), "{name}: {md}");
        assert_eq!(md.matches("\n### ").count(), 1, "{name}: {md}");
        assert!(
            md.contains(&format!("### 1. FAILED ` GET {path} ` → ")),
            "{name}: {md}"
        );
        assert!(md.contains("(1 proxied handshake, 2 legs)"), "{name}");
        assert!(md.contains("#### Leg 1 of 2: client → proxy (handshake #1,"));
        assert!(md.contains("#### Leg 2 of 2: proxy → upstream (handshake #2,"));
        // The hop's diagnosis, once (its headline is the first bold paragraph of the section).
        let headline = md
            .split(" legs)\n\n**")
            .nth(1)
            .and_then(|r| r.split("**").next())
            .unwrap();
        assert_eq!(md.matches(&format!("**{headline}**")).count(), 1, "{name}");

        let html = report(name, "html");
        assert_eq!(html.matches("<section class=\"group\"").count(), 1);
        assert_eq!(html.matches("<section class=\"hop").count(), 0, "{name}");
        assert_eq!(html.matches("id=\"hop1\"").count(), 1, "{name}");
    }
    // A hop that passed the handshake through is no problem: it keeps its own section.
    let md = report("nginx-proxy-ok.pcap", "md");
    assert!(md.contains("## Proxy hops"), "{md}");
    assert!(!md.contains("## Problem handshakes"), "{md}");
}

#[test]
fn hop_on_a_good_proxy_is_intact_and_unrelated_captures_have_none() {
    let m = json("nginx-proxy-ok.pcap");
    let hops = m["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1);
    assert_eq!(hops[0]["broken_at"], "nowhere");
    assert_eq!(hops[0]["downstream_status"], 101);
    assert!(hops[0]["request_line"].is_null(), "{:#}", hops[0]);
    // nginx rewrites Host and lower-cases Connection; that shows as changes, not breakage.
    let names: Vec<&str> = hops[0]["request_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Host"), "{names:?}");
    for name in [
        "nginx-502-upstream-down.pcap",
        "curl-bad-requests.pcap",
        "python-websockets-ok.pcap",
    ] {
        assert_eq!(json(name)["hops"].as_array().unwrap().len(), 0, "{name}");
    }
}

/// `--report` says on standard error where it wrote and how much, with the exact size.
#[test]
fn report_says_where_it_wrote_and_how_big() {
    for (ext, format) in [("html", "HTML"), ("md", "Markdown"), ("json", "JSON")] {
        let out = tmp(&format!("said.{ext}"));
        let o = crate::util::command()
            .args(["-q", "-r"])
            .arg(sample("nginx-strips-upgrade.pcap"))
            .arg("--report")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let size = std::fs::metadata(&out).unwrap().len();
        let said = format!("wssniff: wrote the {format} report to {}, ", out.display());
        let err = stderr(&o);
        let line = err
            .lines()
            .find(|l| l.starts_with(&said))
            .unwrap_or_else(|| panic!("no {said:?} in {err}"));
        assert!(line.ends_with(&format!("({size} bytes)")), "{line}");
        assert!(stdout(&o).is_empty(), "messages go to stderr");
    }
}

#[test]
fn bad_report_extension_is_a_usage_error() {
    let o = wssniff(&[
        "-r",
        sample("ipv6-ok.pcap").to_str().unwrap(),
        "--report",
        "x.pdf",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(".html, .htm, .md or .json"),
        "{}",
        stderr(&o)
    );
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|b| {
        std::env::split_paths(&path)
            .map(|d| d.join(b))
            .find(|p| p.is_file())
    })
}

/// Renders `html` to a PNG with headless Chromium and returns its size in bytes.
fn screenshot(browser: &Path, html: &Path, png: &Path) -> u64 {
    let profile = tmp(&format!(
        "chromium-profile-{}",
        png.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&profile);
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A safety net against a hung browser, not a timing assertion.
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        panic!("chromium did not exit");
    }
    let bytes = std::fs::read(png).unwrap_or_default();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    bytes.len() as u64
}

#[test]
fn html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            !crate::util::under_ci(),
            "chromium is missing in CI: scripts/setup-debian installs it when CI is set"
        );
        eprintln!("skipping html_renders_in_headless_chromium: chromium not installed");
        return;
    };
    let html = tmp("render.html");
    std::fs::write(&html, report("nginx-strips-upgrade.pcap", "html")).unwrap();
    let blank = tmp("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let report_png = screenshot(&browser, &html, &tmp("render.png"));
    let blank_png = screenshot(&browser, &blank, &tmp("blank.png"));
    // A uniform page compresses to almost nothing; text, tables and charts do not.
    assert!(
        report_png > 20_000 && report_png > blank_png * 5,
        "report screenshot {report_png} bytes vs blank page {blank_png} bytes"
    );
}

/// Measures the page as laid out: injected into a test copy of the report (the report itself
/// has no script). Every chart's text (a rotated label as its rotated box: corners through the
/// element's screen transform) must not overlap another text of the chart, must lie inside the
/// chart, and must be at least 9 px high; nothing on the page may scroll sideways. The result
/// replaces the body, where `--dump-dom` prints it.
const MEASURE: &str = r#"<script>
addEventListener('load', () => {
  const problems = [];
  const corners = (t) => {
    const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const apart = (p, q) => {
    for (const poly of [p, q]) {
      for (let i = 0; i < 4; i++) {
        const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
        const nx = y1 - y2, ny = x2 - x1;
        const pr = (pts) => pts.map(([x, y]) => x * nx + y * ny);
        const a = pr(p), b = pr(q);
        const len = Math.hypot(nx, ny) || 1;
        if (Math.max(...a) <= Math.min(...b) + 0.5 * len || Math.max(...b) <= Math.min(...a) + 0.5 * len) return true;
      }
    }
    return false;
  };
  let texts = 0;
  document.querySelectorAll('svg.chart').forEach((svg, n) => {
    const box = svg.getBoundingClientRect();
    const scale = svg.getScreenCTM().a;
    const ts = [...svg.querySelectorAll('text')];
    const polys = ts.map(corners);
    texts += ts.length;
    ts.forEach((t, i) => {
      const name = `chart ${n + 1} text "${t.textContent}"`;
      const px = parseFloat(t.getAttribute('font-size')) * scale;
      if (px < 9) problems.push(`${name}: ${px.toFixed(1)} px high`);
      for (const [x, y] of polys[i]) {
        if (x < box.left - 0.5 || x > box.right + 0.5 || y < box.top - 0.5 || y > box.bottom + 0.5) {
          problems.push(`${name}: outside the chart at ${x.toFixed(1)},${y.toFixed(1)}`);
          break;
        }
      }
      for (let j = i + 1; j < ts.length; j++) {
        if (!apart(polys[i], polys[j])) problems.push(`${name} overlaps "${ts[j].textContent}"`);
      }
    });
  });
  const root = document.documentElement;
  if (root.scrollWidth > innerWidth + 1) problems.push(`the page is ${root.scrollWidth} px wide in a ${innerWidth} px window`);
  document.querySelectorAll('pre, .scroll, table, td, code').forEach((e) => {
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline') {
      problems.push(`${e.tagName.toLowerCase()}.${e.className} scrolls sideways: ${e.scrollWidth} > ${e.clientWidth}: ${e.textContent.slice(0, 60)}`);
    }
  });
  const charts = document.querySelectorAll('svg.chart').length;
  // Percent-encoded, so the DOM dump cannot turn any of it into an entity.
  document.body.innerHTML = '<pre id="measured">' + encodeURIComponent(JSON.stringify({charts, texts, problems})) + '</pre>';
});
</script>"#;

/// What `MEASURE` found for `html` in a window `width` px wide: (charts, texts, problems).
fn measure(browser: &Path, html: &str, width: u32, name: &str) -> (u64, u64, Vec<String>) {
    let page = tmp(&format!("{name}-{width}.html"));
    std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let profile = tmp(&format!("chromium-profile-{name}-{width}"));
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--window-size={width},1200"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let json = dom
        .split("<pre id=\"measured\">")
        .nth(1)
        .and_then(|r| r.split("</pre>").next())
        .unwrap_or_else(|| panic!("{name} at {width} px: no measurement in {dom}"));
    let v: serde_json::Value = serde_json::from_slice(&percent_decode(json)).unwrap();
    let problems = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    (
        v["charts"].as_u64().unwrap(),
        v["texts"].as_u64().unwrap(),
        problems,
    )
}

/// Undoes `encodeURIComponent`.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A report that stresses the layout: every latency range and a dozen statuses filled, a
/// header line and a curl line far wider than the page.
fn crowded_report() -> String {
    use wssniff::event::Event;
    use wssniff::sink::Sink;
    let all = events("curl-bad-requests.pcap");
    let template = all
        .iter()
        .find_map(|e| match e {
            Event::Handshake(r) if r.request.is_some() => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    let mut report = wssniff::report::Report::new();
    for e in &all {
        report.event(e).unwrap();
    }
    let latencies = [
        0.05, 0.2, 0.5, 2.0, 5.0, 20.0, 50.0, 200.0, 500.0, 2_000.0, 5_000.0, 20_000.0,
    ];
    let statuses = [
        Some(101),
        Some(200),
        Some(301),
        Some(400),
        Some(401),
        Some(403),
        Some(404),
        Some(426),
        Some(500),
        Some(502),
        Some(503),
        Some(505),
        None,
    ];
    let long = "x".repeat(700);
    for (i, status) in statuses.iter().enumerate() {
        for (j, ms) in latencies.iter().enumerate() {
            let mut r = (*template).clone();
            r.id = 10_000 + (i * 100 + j) as u64;
            r.status = *status;
            r.timing.response_ms = status.map(|_| *ms);
            r.path = Some(format!("/path-{i}?q={long}"));
            if let Some(req) = r.request.as_mut() {
                req.head.headers.push("X-Long", &long);
                req.head.raw = String::new();
            }
            report
                .event(&Event::Handshake(std::sync::Arc::new(r)))
                .unwrap();
        }
    }
    report.render(
        wssniff::report::Format::Html,
        &wssniff::report::CaptureInfo::default(),
    )
}

/// Every chart legible at 1280 px and in print (#16): no text of a chart overlaps another or
/// leaves the chart, none is under 9 px, and no header line, curl line or table makes the
/// page scroll sideways. Print is the print stylesheet applied at an A4 page's width.
#[test]
fn charts_and_long_lines_are_legible_on_screen_and_in_print() {
    let Some(browser) = chromium() else {
        assert!(
            !crate::util::under_ci(),
            "chromium is missing in CI: scripts/setup-debian installs it when CI is set"
        );
        eprintln!("skipping charts_and_long_lines_are_legible_on_screen_and_in_print: chromium not installed");
        return;
    };
    let crowded = crowded_report();
    assert!(
        crowded.contains(&"x".repeat(700)),
        "the long line is in the report"
    );
    let pages = [
        ("crowded", crowded),
        ("strips", report("nginx-strips-upgrade.pcap", "html")),
        ("credentials", report("credentials-redacted.pcap", "html")),
        ("h2c", report("h2c-hypercorn-ok.pcap", "html")),
    ];
    let mut failures = Vec::new();
    for (name, html) in &pages {
        let print = html.replace("@media print{", "@media all{");
        for (what, page, width) in [("screen", html, 1280), ("print", &print, 700)] {
            let (charts, texts, problems) = measure(&browser, page, width, name);
            assert_eq!(
                charts, 3,
                "{name} {what}: the timeline, latency and status charts"
            );
            assert!(texts >= 12, "{name} {what}: {texts} texts measured");
            failures.extend(problems.into_iter().map(|p| format!("{name} {what}: {p}")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn after_the_switch_names_the_idle_timeout_and_its_fix() {
    let fix = "raise the proxy's timeout (nginx proxy_read_timeout/proxy_send_timeout";
    let md = report("nginx-idle-timeout.pcap", "md");
    assert!(
        md.contains("1 WebSocket handshake (1 proxied), 0 failed; 1 of 1 WebSocket connection (1 proxied) ended badly after the switch."),
        "{md}"
    );
    assert!(md.contains("## After the switch"), "{md}");
    assert!(md.contains("| fin_without_close | 2 |"), "{md}");
    assert!(md.contains("| `idle_timeout` | warning | 2 |"), "{md}");
    // Both legs of the proxy are one incident: one group, each leg with the fix and the
    // quiet time (they were two groups, C1 and C2, counted as two connections).
    assert_eq!(md.matches("#### C").count(), 1, "{md}");
    assert!(
        md.contains("#### C1. WARNING `idle_timeout` at 127.0.0.1:18181 ` /chat ` (1 proxied connection, 2 legs)"),
        "{md}"
    );
    assert!(md.contains("   - leg 2 (proxy → upstream): "), "{md}");
    assert_eq!(
        md.matches("- **warning** `idle_timeout`: ").count(),
        2,
        "{md}"
    );
    assert_eq!(md.matches("Fix: Send pings").count(), 2, "{md}");
    assert!(md.contains(fix), "{md}");
    assert!(
        md.contains("TCP: the server closed the connection (FIN), 2000.3 ms after the last frame"),
        "{md}"
    );
    assert!(md.contains("handshake #1 (a leg of proxy hop 1)"), "{md}");
    // The section comes after the handshake problems and before the handshake table.
    let after = md.find("## After the switch").unwrap();
    assert!(after < md.find("## All handshakes").unwrap());

    let html = report("nginx-idle-timeout.pcap", "html");
    assert!(
        html.contains("<p class=\"lead\">1 WebSocket handshake (1 proxied), 0 failed; 1 of 1 WebSocket connection (1 proxied) ended badly after the switch.</p>"),
        "{html}"
    );
    assert!(html.contains("<h2 id=\"after\">After the switch</h2>"));
    assert_eq!(
        html.matches("<b>warning</b> <code>idle_timeout</code>: ")
            .count(),
        2
    );
    assert!(html.contains(&fix.replace('\'', "&#39;")), "{html}");
    assert!(html.contains("<a href=\"#h2\">handshake #2</a>"), "{html}");
}

#[test]
fn after_the_switch_shows_close_codes_and_the_reset() {
    let md = report("close-codes.pcap", "md");
    assert!(
        md.contains("5 WebSocket handshakes, 0 failed; 4 of 5 WebSocket connections ended badly after the switch."),
        "{md}"
    );
    assert!(md.contains(
        "close frames: server first: 1008 (policy violation) reason ` policy ` (packet 10); then client 1008 (policy violation) reason ` policy ` (packet 12)"
    ), "{md}");
    assert!(
        md.contains("` closed clean: server 1008 \"policy\" → client 1008 \"policy\";"),
        "{md}"
    );
    assert!(md.contains("| rst | 1 |"), "{md}");
    assert!(
        md.contains("- **warning** `connection_reset`: ` the server reset the connection (RST)"),
        "{md}"
    );
    assert!(
        md.contains("TCP: the server reset the connection (RST)"),
        "{md}"
    );
    // 4001 is an application code (info): counted, but not a problem group.
    assert!(md.contains("| `close_application` | info | 1 |"), "{md}");
    let m = json("close-codes.pcap");
    let c = &m["connections"];
    assert_eq!(c["total"], 5);
    assert_eq!(c["problems"], 4);
    assert_eq!(c["groups"].as_array().unwrap().len(), 4);
    assert_eq!(c["connections"].as_array().unwrap().len(), 5);
    let g = &c["groups"][0];
    assert_eq!(g["path"], "/1008");
    let o = &g["occurrences"][0];
    assert_eq!(o["server_close"]["code"], 1008);
    assert_eq!(o["server_close"]["reason"], "policy");
    assert_eq!(o["close_initiator"], "server");
    assert_eq!(o["tcp_end"], "server_fin");

    let html = report("close-codes.pcap", "html");
    assert!(
        html.contains(
            "server first: 1008 (policy violation) reason <code>policy</code> (packet 10)"
        ),
        "{html}"
    );
    assert!(
        html.contains("<td><code>rst</code></td><td class=\"n\">1</td>"),
        "{html}"
    );
}

#[test]
fn after_the_switch_reports_connections_without_a_handshake() {
    let md = report("mid-connection.pcap", "md");
    assert!(
        md.contains("0 WebSocket handshakes, 0 failed; 1 WebSocket connection, none ended badly."),
        "{md}"
    );
    assert!(
        md.contains("1 without a captured opening handshake"),
        "{md}"
    );
    assert!(
        md.contains("| `handshake_not_observed` | info | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("| – | clean | `handshake_not_observed` |"),
        "{md}"
    );
    let html = report("mid-connection.pcap", "html");
    assert!(
        html.contains("<code>handshake_not_observed</code>"),
        "{html}"
    );
    // A capture whose handshakes all failed has no connections, and says so.
    let md = report("nginx-502-upstream-down.pcap", "md");
    assert!(
        md.contains("No WebSocket connection was opened in this capture."),
        "{md}"
    );
}

/// The events of a sample, as the engine emits them.
fn events(sample_name: &str) -> Vec<wssniff::event::Event> {
    let path = sample(sample_name);
    wssniff::tui::feed::read_all(path.to_str().unwrap(), Default::default())
        .unwrap()
        .into_iter()
        .filter_map(|f| match f {
            wssniff::tui::feed::Feed::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn report_of(events: &[wssniff::event::Event]) -> wssniff::report::ReportModel {
    use wssniff::sink::Sink;
    let mut r = wssniff::report::Report::new();
    for e in events {
        r.event(e).unwrap();
    }
    r.model(&wssniff::report::CaptureInfo::default())
}

/// Hop correlation happens once, in the engine: the report lists exactly the `Event::Hop`s it
/// was given, with both requests as on the wire, whatever its own record cap. (It used to
/// re-correlate its first 2,000 records with bounds of its own, so it could miss a hop the
/// JSON output had, or show one the engine never linked.)
#[test]
fn report_lists_the_engines_hops_and_no_others() {
    use wssniff::event::Event;
    for name in [
        "nginx-strips-upgrade.pcap",
        "nginx-proxy-ok.pcap",
        "nginx-503-rate-limited.pcap",
    ] {
        let all = events(name);
        let links: Vec<(u64, u64)> = all
            .iter()
            .filter_map(|e| match e {
                Event::Hop(h) => Some((h.downstream, h.upstream)),
                _ => None,
            })
            .collect();
        assert_eq!(links.len(), 1, "{name}");
        let listed = |m: &wssniff::report::ReportModel| -> Vec<(u64, u64)> {
            m.hops
                .iter()
                .map(|h| (h.link.downstream, h.link.upstream))
                .collect()
        };
        assert_eq!(listed(&report_of(&all)), links, "{name}");

        // Without the engine's word, two legs with the same key are not a hop.
        let no_hop: Vec<Event> = all
            .iter()
            .filter(|e| !matches!(e, Event::Hop(_)))
            .cloned()
            .collect();
        assert!(report_of(&no_hop).hops.is_empty(), "{name}");

        // Past the report's record cap, the hop is still listed, with both requests.
        let filler = all
            .iter()
            .find_map(|e| match e {
                Event::Handshake(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        let mut crowded: Vec<Event> = (0..wssniff::report::MAX_RECORDS as u64 + 10)
            .map(|i| {
                let mut r = (*filler).clone();
                r.id = 1_000_000 + i;
                r.key = None;
                Event::Handshake(std::sync::Arc::new(r))
            })
            .collect();
        crowded.extend(all.iter().cloned());
        let m = report_of(&crowded);
        assert_eq!(listed(&m), links, "{name}");
        assert!(
            m.hops[0].downstream_request.is_some() && m.hops[0].upstream_request.is_some(),
            "{name}"
        );

        // A hop that arrives before its legs' records (records held back to come out in
        // order) still gets both requests.
        let mut hop_first: Vec<Event> = all
            .iter()
            .filter(|e| matches!(e, Event::Hop(_)))
            .cloned()
            .collect();
        hop_first.extend(no_hop.iter().cloned());
        let m = report_of(&hop_first);
        assert_eq!(listed(&m), links, "{name}");
        let text = |m: &wssniff::report::ReportModel| -> Option<Vec<String>> {
            m.hops[0]
                .downstream_request
                .as_ref()
                .map(|w| w.lines.iter().map(|l| l.text.clone()).collect())
        };
        assert!(text(&m).is_some(), "{name}");
        assert_eq!(text(&m), text(&report_of(&all)), "{name}");
        assert!(m.hops[0].upstream_request.is_some(), "{name}");
    }
}

#[test]
fn the_client_leg_shows_the_hops_corrected_cause_in_place() {
    // nginx forwarding neither Upgrade nor Connection: the client's record says the server
    // answered 426; the hop shows the proxy broke it, and the report shows that in its place.
    let j = json("nginx-no-upgrade-426.pcap");
    let detail = &j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["detail"]["id"] == 1)
        .unwrap()["detail"];
    let findings = detail["findings"].as_array().unwrap();
    let shown: Vec<&str> = findings
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["proxy_broke_request"], "{detail:#}");
    assert_eq!(findings[0]["replaces"], "upgrade_required");
    // The status line it cites is marked with it, and the handshake table names it.
    assert_eq!(
        detail["response"]["lines"][0]["marks"][0],
        "proxy_broke_request"
    );
    let row = j["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .unwrap();
    assert_eq!(row["top_finding"], "proxy_broke_request");
    // The upstream leg keeps its own refusal: the upstream did answer 426. It is shown in the
    // same incident, as its second leg.
    let upstream = &j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["detail"]["id"] == 1)
        .unwrap()["upstream_legs"][0];
    assert_eq!(upstream["id"], 2);
    assert!(upstream["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "upgrade_required" && f.get("replaces").is_none()));
    let counted: Vec<(&str, u64)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["count"].as_u64().unwrap()))
        .filter(|(c, _)| c.starts_with("upgrade_required") || c.starts_with("proxy_"))
        .collect();
    assert_eq!(
        counted,
        [("proxy_broke_request", 1), ("upgrade_required", 1)],
        "{:#}",
        j["findings"]
    );
    let md = report("nginx-no-upgrade-426.pcap", "md");
    assert!(
        md.contains(
            "In place of `upgrade_required`: both legs of the proxy hop show the proxy broke it."
        ),
        "{md}"
    );
    let html = report("nginx-no-upgrade-426.pcap", "html");
    assert!(html.contains("In place of <code>upgrade_required</code>"));
}
