//! The schema documents against the output: docs/schema.md against the JSON Lines records,
//! docs/report-schema.md against the report JSON. Every record type and field the samples
//! produce is documented with its type, every required field is present, and every
//! documented field appears somewhere, so neither document can go stale.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::util::*;

/// A field's type as the document gives it.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Null,
    List(Box<Kind>),
    Object(String),
}

#[derive(Debug)]
struct Field {
    kinds: Vec<Kind>,
    optional: bool,
}

/// Table name (record type or object) → field → type.
type Tables = BTreeMap<String, BTreeMap<String, Field>>;

fn kind(word: &str) -> Kind {
    let word = word.trim();
    if let Some(inner) = word.strip_prefix("list of ") {
        return Kind::List(Box::new(kind(inner)));
    }
    match word {
        "string" => Kind::Str,
        "int" => Kind::Int,
        "float" => Kind::Float,
        "bool" => Kind::Bool,
        "null" => Kind::Null,
        name => Kind::Object(name.to_owned()),
    }
}

/// Reads every `### \`name\`` table of the document `doc_name`.
fn tables(doc: &str, doc_name: &str) -> Tables {
    let mut out = Tables::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_owned);
            continue;
        }
        if line.starts_with("## ") {
            current = None;
        }
        let Some(table) = &current else { continue };
        let cells: Vec<&str> = line.split(" | ").collect();
        let (Some(names), Some(ty)) = (cells.first(), cells.get(1)) else {
            continue;
        };
        let Some(names) = names.strip_prefix("| ") else {
            continue;
        };
        if !names.starts_with('`') {
            continue;
        }
        let (ty, optional) = match ty.strip_suffix(", optional") {
            Some(t) => (t, true),
            None => (*ty, false),
        };
        let kinds: Vec<Kind> = ty.split('/').map(kind).collect();
        for name in names.split(", ") {
            let name = name.trim_matches('`').to_owned();
            let fields = out.entry(table.clone()).or_default();
            let field = Field {
                kinds: kinds.clone(),
                optional,
            };
            assert!(
                fields.insert(name.clone(), field).is_none(),
                "{doc_name}: `{table}.{name}` listed twice"
            );
        }
    }
    out
}

struct Checker<'a> {
    doc_name: &'a str,
    tables: &'a Tables,
    seen: BTreeSet<(String, String)>,
    errors: BTreeSet<String>,
}

impl Checker<'_> {
    fn record(&mut self, record: &Value) {
        let kind = record["type"].as_str().unwrap_or("?").to_owned();
        self.object(&kind, record, &kind);
    }

    /// Checks `value` (at `path`) against table `table`.
    fn object(&mut self, table: &str, value: &Value, path: &str) {
        let Some(fields) = self.tables.get(table) else {
            self.errors
                .insert(format!("no table `{table}` documents {path}"));
            return;
        };
        let Some(map) = value.as_object() else {
            self.errors.insert(format!("{path} is not an object"));
            return;
        };
        for (name, field) in fields {
            if !field.optional && !map.contains_key(name) {
                self.errors.insert(format!(
                    "{path}.{name} is required by the document but missing"
                ));
            }
        }
        for (key, v) in map {
            let at = format!("{path}.{key}");
            let Some(field) = fields.get(key) else {
                self.errors.insert(format!(
                    "{at}: field not in {} (table `{table}`)",
                    self.doc_name
                ));
                continue;
            };
            self.seen.insert((table.to_owned(), key.clone()));
            if !field.kinds.iter().any(|k| self.fits(k, v, &at)) {
                self.errors.insert(format!(
                    "{at}: {v} does not have the documented type {:?}",
                    field.kinds
                ));
            }
        }
    }

    /// Whether `v` has type `k`; objects are checked against their table on the way.
    fn fits(&mut self, k: &Kind, v: &Value, at: &str) -> bool {
        match k {
            Kind::Str => v.is_string(),
            Kind::Int => v.is_u64() || v.is_i64(),
            Kind::Float => v.is_f64(),
            Kind::Bool => v.is_boolean(),
            Kind::Null => v.is_null(),
            Kind::List(inner) => match v.as_array() {
                Some(items) => items
                    .iter()
                    .all(|item| self.fits(inner, item, &format!("{at}[]"))),
                None => false,
            },
            Kind::Object(name) => {
                if !v.is_object() {
                    return false;
                }
                self.object(name, v, at);
                true
            }
        }
    }
}

/// Runs that reach what the plain samples do not: notices (with and without a packet).
const EXTRA_RUNS: &[(&str, &[&str])] = &[
    ("python-websockets-ok.pcap", &["--max-header-bytes", "100"]),
    // Imperfect captures (samples/imperfect/): cut heads, loss, capture evidence.
    ("imperfect/snaplen-200-any.pcap", &[]),
    ("imperfect/capture-loss.pcap", &[]),
    ("imperfect/client-to-server.pcap", &[]),
    ("imperfect/every-packet-twice.pcap", &[]),
    ("imperfect/network-loss.pcap", &[]),
    (
        "pcapng-mixed-linktypes.pcapng",
        &["ether host 00:00:00:00:00:00"],
    ),
    // Chromium's GREASE ECH: `tls.ech_verdict`.
    ("h2tls/h2tls-chromium-hypercorn.pcap", &[]),
    // wss:// decrypted: the `tls` link on handshake and connection records.
    (
        "tls/tls13-wss-python-ok.pcap",
        &["--keylog", "samples/tls/tls13-wss-python-ok.keys"],
    ),
    // Engine.IO over HTTP/2 decrypted: `eio_upgrade.h2_stream`.
    (
        "engineio-h2-firefox.pcap",
        &["--keylog", "samples/engineio-h2-firefox.keys"],
    ),
];

/// Documented fields no bundled sample produces (live capture only, or situations the samples
/// do not record). The test fails when one of them does appear, so the list stays true.
const NOT_IN_SAMPLES: &[(&str, &str)] = &[
    // A server's GOAWAY refusing an extended CONNECT (unit-tested in src/h2/connection.rs).
    ("h2", "goaway"),
    ("h2_reset", "last_stream"),
    ("h2_reset", "debug"),
    ("summary", "live"),
    // Only for a file out of order (tests/it/imperfect.rs makes them with Wireshark's tools).
    ("capture_evidence", "reordered_packets"),
    // Only when the memory budget was hit (tests/it/memory.rs drives it).
    ("counters", "flows_evicted_memcap"),
    ("counters", "memcap_refused"),
    ("counters", "memcap_records"),
    // Only past --eio-body-bytes (src/correlate/engineio.rs tests it).
    ("counters", "engineio_bodies_cut"),
    // Only past 32 polling streams open on one HTTP/2 connection (tests/it/engineio.rs
    // polls_beyond_the_open_streams_followed_on_one_h2_connection_are_said drives it).
    ("counters", "engineio_polls_not_followed"),
    ("live", "captured"),
    ("live", "received"),
    ("live", "kernel_dropped"),
    ("live", "interface_dropped"),
    ("live", "shed"),
    ("handshake", "interim"),
    ("evidence", "interim"),
    ("evidence", "frames"),
    ("direction", "ping_intervals"),
    ("intervals", "count"),
    ("intervals", "min_ms"),
    ("intervals", "max_ms"),
    ("intervals", "mean_ms"),
    // A body the bundled samples do not have: broken framing or coding.
    ("body", "problem"),
    // QUIC is not in the bundled samples.
    ("counters", "quic_packets"),
    ("counters", "quic_initials"),
];

#[test]
fn the_schema_document_lists_exactly_what_the_json_carries() {
    let doc = std::fs::read_to_string(root().join("docs/schema.md")).unwrap();
    let version = wssniff::sink::SCHEMA;
    assert!(
        doc.starts_with(&format!("# wssniff JSON Lines, schema {version}\n")),
        "docs/schema.md describes another schema version than {version}"
    );
    let tables = tables(&doc, "docs/schema.md");
    let mut checker = Checker {
        doc_name: "docs/schema.md",
        tables: &tables,
        seen: BTreeSet::new(),
        errors: BTreeSet::new(),
    };
    let mut runs: Vec<(String, Vec<&str>)> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_owned(), vec![]))
        .collect();
    runs.sort();
    // The TLS samples (samples/generate-tls.sh).
    let mut tls: Vec<(String, Vec<&str>)> = std::fs::read_dir(root().join("samples/tls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| {
            (
                format!("tls/{}", p.file_name().unwrap().to_str().unwrap()),
                vec![],
            )
        })
        .collect();
    tls.sort();
    runs.extend(tls);
    runs.extend(
        EXTRA_RUNS
            .iter()
            .map(|(name, args)| ((*name).to_owned(), args.to_vec())),
    );
    let mut types = BTreeSet::new();
    for (name, args) in &runs {
        for record in all_records(&sample(name), args) {
            assert_eq!(record["schema"], version, "{name}: {record}");
            types.insert(record["type"].as_str().unwrap().to_owned());
            checker.record(&record);
        }
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "connection",
            "engineio_session",
            "handshake",
            "hop",
            "notice",
            "summary",
            "tls"
        ],
        "every record type appears in the samples"
    );
    checker.documented_fields_were_seen(NOT_IN_SAMPLES);
    let errors: Vec<&String> = checker.errors.iter().collect();
    assert!(
        errors.is_empty(),
        "docs/schema.md vs the JSON:\n{errors:#?}"
    );
}

impl Checker<'_> {
    /// Every documented field was emitted by some sample, except those `excused` (and those
    /// must not be emitted, so the list stays true).
    fn documented_fields_were_seen(&mut self, excused_fields: &[(&str, &str)]) {
        for (table, fields) in self.tables {
            for name in fields.keys() {
                let key = (table.clone(), name.clone());
                let excused = excused_fields.contains(&(table.as_str(), name.as_str()));
                match (self.seen.contains(&key), excused) {
                    (false, false) => {
                        self.errors.insert(format!(
                            "`{table}.{name}` is documented but no sample emits it"
                        ));
                    }
                    (true, true) => {
                        self.errors.insert(format!(
                            "`{table}.{name}` is emitted now: take it off NOT_IN_SAMPLES"
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn the_changelog_names_the_current_schema() {
    let log = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    let version = wssniff::sink::SCHEMA;
    assert!(
        log.contains(&format!("JSON Lines schema {version}")),
        "CHANGELOG.md does not mention schema {version}"
    );
}

#[test]
fn the_document_reader_sees_fields_and_types() {
    let tables = tables(
        "## Record types\n### `x`\n| field | type | meaning |\n|---|---|---|\n| `a`, `b` | int/null | m |\n| `c` | list of y, optional | m |\n### `y`\n| `d` | string | m |\n",
        "test",
    );
    let x = &tables["x"];
    assert_eq!(x["a"].kinds, [Kind::Int, Kind::Null]);
    assert!(x.contains_key("b") && !x["b"].optional);
    assert_eq!(
        x["c"].kinds,
        [Kind::List(Box::new(Kind::Object("y".into())))]
    );
    assert!(x["c"].optional);
    let mut checker = Checker {
        doc_name: "test",
        tables: &tables,
        seen: BTreeSet::new(),
        errors: BTreeSet::new(),
    };
    checker.object(
        "x",
        &serde_json::json!({"a": 1, "b": null, "c": [{"d": 2}], "e": 0}),
        "x",
    );
    let errors: Vec<&str> = checker.errors.iter().map(String::as_str).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("x.e: field not in")));
    assert!(errors.iter().any(|e| e.starts_with("x.c[].d:")));
}

/// Report fields no bundled sample's report holds (the test fails when one appears).
const NOT_IN_SAMPLE_REPORTS: &[(&str, &str)] = &[
    // A handshake decrypted out of TLS: engineio-wss.pcap is the only TLS sample among the
    // report goldens, and its problem handshakes are not over TLS (tests/it/tls.rs checks the
    // TLS samples' reports).
    ("detail", "tls"),
    // Several files read as one (tests/it/merge.rs checks these).
    ("capture_model", "files"),
    ("capture_file", "file"),
    ("capture_file", "size"),
    ("capture_file", "sha256"),
    ("capture_file", "packets"),
    ("capture_file", "read_error"),
    // Failed TLS connections: the only TLS sample among the report goldens,
    // engineio-wss.pcap, has none (tests/it/tls.rs checks the TLS samples' reports).
    ("tls_row", "time"),
    ("tls_row", "client"),
    ("tls_row", "server"),
    ("tls_row", "story"),
    ("tls_row", "findings"),
    // A hop's corrected finding cites the downstream response's status line only.
    ("evidence", "interim"),
    ("evidence", "missing"),
    ("evidence", "frames"),
    ("evidence", "close_frame"),
];

#[test]
fn the_report_schema_document_lists_exactly_what_the_report_json_carries() {
    let doc = std::fs::read_to_string(root().join("docs/report-schema.md")).unwrap();
    let version = wssniff::report::REPORT_SCHEMA;
    assert!(
        doc.starts_with(&format!("# wssniff report JSON, report_schema {version}\n")),
        "docs/report-schema.md describes another version than {version}"
    );
    let tables = tables(&doc, "docs/report-schema.md");
    let mut checker = Checker {
        doc_name: "docs/report-schema.md",
        tables: &tables,
        seen: BTreeSet::new(),
        errors: BTreeSet::new(),
    };
    // The report goldens, which tests/it/report.rs keeps equal to the reports of every sample.
    let mut checked = 0;
    for name in sample_names() {
        let path = root().join(format!("tests/it/golden/{name}.json"));
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["report_schema"], version, "{}", path.display());
        checker.object("report", &report, &name);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} reports checked");
    checker.documented_fields_were_seen(NOT_IN_SAMPLE_REPORTS);
    let errors: Vec<&String> = checker.errors.iter().collect();
    assert!(
        errors.is_empty(),
        "docs/report-schema.md vs the report JSON:\n{errors:#?}"
    );
}
