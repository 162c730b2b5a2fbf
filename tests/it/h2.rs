//! HTTP/2 samples: the header fields wssniff decodes (HPACK) against tshark's HTTP/2
//! dissection of the same captures, and what each h2c sample must show.
//!
//! `samples/generate-h2.sh` writes `samples/expected/NAME.tshark.tsv` with tshark's view of
//! every HEADERS frame (packet, stream, names and values joined by commas, as tshark prints
//! them); each row must be one request or response head of wssniff's records, field for
//! field, carried by that packet on that stream. The TLS samples (ALPN h2, `samples/h2tls/`)
//! keep the key log their client wrote (`NAME.keys`) and tshark's decrypted dissection next to
//! each capture: their HEADERS the same way, and their DATA frames, whose lengths on each
//! WebSocket stream must add up to the bytes of the WebSocket frames wssniff walked there.

use std::path::PathBuf;

use crate::util::{all_records, codes, connections, records, root, sample, stdout, wssniff};

/// (tshark dissection, capture, wssniff's extra arguments) of every h2 sample.
fn tshark_files() -> Vec<(PathBuf, PathBuf, Vec<String>)> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("samples/expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tshark.tsv"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let pcap = sample(name.trim_end_matches(".tshark.tsv"));
            (p, pcap, Vec::new())
        })
        .collect();
    v.extend(tls_samples().into_iter().map(|(pcap, keys)| {
        let tsv = pcap.with_extension("tshark.tsv");
        (
            tsv,
            pcap,
            vec!["--keylog".to_owned(), keys.display().to_string()],
        )
    }));
    v.sort();
    v
}

/// (capture, key log) of every sample in `samples/h2tls/` that carries HTTP/2 (tshark's
/// dissection of its DATA frames is next to it; the ALPN downgrade carries none).
fn tls_samples() -> Vec<(PathBuf, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(sample("h2tls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .filter(|p| p.with_extension("tshark-data.tsv").exists())
        .map(|p| {
            let keys = p.with_extension("keys");
            (p, keys)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn decoded_headers_match_tshark() {
    let files = tshark_files();
    assert!(files.len() >= 5, "the h2 samples' tshark dissections");
    for (file, path, extra) in files {
        let pcap = path.display();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let recs = records(&path, &extra);
        assert!(!recs.is_empty(), "{pcap}: no handshake record");
        let recs: Vec<_> = recs.into_iter().filter(|r| r["h2"].is_object()).collect();
        let mut heads = Vec::new();
        // HTTP/1.1 handshakes (a fallback, a proxy's upstream leg) have no HTTP/2 heads.
        for r in recs.iter().filter(|r| r["h2"].is_object()) {
            let stream = r["h2"]["stream_id"].as_u64().unwrap();
            for m in [&r["request"], &r["response"]] {
                if m.is_object() {
                    heads.push((stream, m));
                }
            }
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let (mut rows, mut others) = (0, 0);
        for line in text.lines().filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let packet: u64 = cols[0].parse().unwrap();
            // tshark lists the stream of every frame in the packet: the HEADERS' is the one
            // that is not the connection's (0), e.g. "0,1" for SETTINGS + HEADERS.
            let streams: Vec<u64> = cols[1].split(',').map(|s| s.parse().unwrap()).collect();
            let stream = streams.iter().copied().find(|&s| s != 0).unwrap_or(0);
            if cols[2]
                .split(',')
                .all(|n| n != ":protocol" && n != ":status")
                || (cols[2].starts_with(":status") && !heads.iter().any(|(s, _)| *s == stream))
            {
                // A request that is no WebSocket (the page a browser loaded, its favicon)
                // and its answer: not handshakes, so no record shows them.
                others += 1;
                continue;
            }
            let head = heads
                .iter()
                .find(|(s, m)| {
                    *s == stream
                        && m["packets"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p.as_u64() == Some(packet))
                })
                .unwrap_or_else(|| panic!("{pcap}: no head for packet {packet} stream {stream}"))
                .1;
            let fields = head["headers"].as_array().unwrap();
            let join = |key: &str| {
                fields
                    .iter()
                    .map(|h| h[key].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            assert_eq!(join("name"), cols[2], "{pcap} packet {packet}: names");
            assert_eq!(join("value"), cols[3], "{pcap} packet {packet}: values");
            rows += 1;
        }
        assert_eq!(
            rows,
            heads.len(),
            "{pcap}: every head wssniff shows is in tshark's view"
        );
        if pcap.to_string().contains("chromium-hypercorn") {
            assert_eq!(
                others, 4,
                "{pcap}: the page's GET and the favicon's, and their answers"
            );
        }
    }
}

/// tshark's decrypted DATA frames of a TLS sample: (stream, sent by the client?) → payload
/// bytes, from the rows `samples/generate-h2.sh` wrote (packet, source port, then type,
/// stream and length of every HTTP/2 frame in the packet, comma-joined).
fn tshark_data(
    pcap: &std::path::Path,
    server_port: u16,
) -> std::collections::BTreeMap<(u64, bool), u64> {
    let text = std::fs::read_to_string(pcap.with_extension("tshark-data.tsv")).unwrap();
    let mut sums = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let from_client = cols[1].parse::<u16>().unwrap() != server_port;
        let kinds = cols[2].split(',');
        let streams = cols[3].split(',');
        let lens = cols[4].split(',');
        for ((k, s), n) in kinds.zip(streams).zip(lens) {
            if k == "0" {
                *sums.entry((s.parse().unwrap(), from_client)).or_default() +=
                    n.parse::<u64>().unwrap();
            }
        }
    }
    sums
}

#[test]
fn decrypted_data_frames_carry_exactly_the_websocket_bytes_tshark_decrypts() {
    let samples = tls_samples();
    assert_eq!(samples.len(), 5, "the h2tls samples");
    for (pcap, keys) in samples {
        let recs = all_records(&pcap, &["--keylog", keys.to_str().unwrap()]);
        let conns: Vec<_> = recs.iter().filter(|r| r["type"] == "connection").collect();
        assert!(
            !conns.is_empty(),
            "{}: no WebSocket connection",
            pcap.display()
        );
        let port: u16 = conns[0]["server"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let data = tshark_data(&pcap, port);
        for c in conns.iter().filter(|c| c["h2_stream_id"].is_u64()) {
            let stream = c["h2_stream_id"].as_u64().unwrap();
            for (dir, from_client) in [("client_to_server", true), ("server_to_client", false)] {
                assert_eq!(
                    c[dir]["bytes"].as_u64(),
                    data.get(&(stream, from_client)).copied(),
                    "{}: stream {stream} {dir}",
                    pcap.display()
                );
            }
        }
    }
}

#[test]
fn chromium_opens_its_websocket_as_a_stream_of_the_pages_h2_connection_over_tls() {
    let pcap = sample("h2tls/h2tls-chromium-hypercorn.pcap");
    let keys = sample("h2tls/h2tls-chromium-hypercorn.keys");
    let extra = ["--keylog", keys.to_str().unwrap()];
    let recs = records(&pcap, &extra);
    assert_eq!(
        recs.len(),
        1,
        "the page's GET and favicon are not WebSocket handshakes"
    );
    let r = &recs[0];
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(r["status"], 200);
    assert_eq!(r["method"], "CONNECT");
    assert_eq!(r["origin"], "https://127.0.0.1:18211");
    assert_eq!(r["h2"]["stream_id"], 3, "stream 1 carried the page");
    assert_eq!(r["h2"]["connect_protocol_enabled"], true);
    assert_eq!(
        r["extensions"][0],
        "permessage-deflate; client_max_window_bits=15"
    );
    let conns = connections(&pcap, &extra);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["ending"], "clean", "{c}");
    assert_eq!(c["close"]["handshake_completed"], true);
    // Chromium's ending: RST_STREAM CANCEL after both Close frames.
    assert_eq!(c["tcp_end"], "client_rst");
    assert_eq!(codes(c), ["reset_after_close"]);
    assert_eq!(c["client_to_server"]["messages"], 1);
    assert_eq!(c["server_to_client"]["messages"], 1);
    // Without the key log the same capture shows no handshake, and says why.
    assert!(records(&pcap, &[]).is_empty());
}

#[test]
fn python_h2_over_tls_opens_two_websocket_streams_on_one_connection() {
    let pcap = sample("h2tls/h2tls-python-hypercorn.pcap");
    let keys = sample("h2tls/h2tls-python-hypercorn.keys");
    let extra = ["--keylog", keys.to_str().unwrap()];
    let recs = records(&pcap, &extra);
    let streams: Vec<u64> = recs
        .iter()
        .map(|r| r["h2"]["stream_id"].as_u64().unwrap())
        .collect();
    assert_eq!(streams, [1, 3]);
    assert!(recs
        .iter()
        .all(|r| r["verdict"] == "ok" && r["request"]["headers"][2]["value"] == "https"));
    let conns = connections(&pcap, &extra);
    assert_eq!(conns.len(), 2);
    assert!(conns
        .iter()
        .all(|c| c["ending"] == "clean" && c["tcp_end"] == "client_fin"));
}

#[test]
fn hypercorn_streams_open_and_end_cleanly_the_browser_ways() {
    let path = sample("h2c-hypercorn-ok.pcap");
    let recs = records(&path, &[]);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(r["verdict"], "ok", "{r}");
        assert_eq!(r["status"], 200);
        assert_eq!(r["method"], "CONNECT");
        assert_eq!(r["h2"]["connect_protocol_enabled"], true);
        assert!(r["key"].is_null() && r["accept"].is_null());
    }
    let streams: Vec<u64> = recs
        .iter()
        .map(|r| r["h2"]["stream_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        streams,
        [1, 3, 1],
        "two streams on the first connection, one on the second"
    );
    let conns = connections(&path, &[]);
    assert_eq!(conns.len(), 3);
    for c in &conns {
        assert_eq!(c["ending"], "clean", "{c}");
        assert_eq!(c["close"]["handshake_completed"], true);
        assert_eq!(c["client_to_server"]["messages"], 1);
    }
    // One way to end: END_STREAM on the DATA frame carrying the client's Close.
    assert_eq!(conns[0]["tcp_end"], "client_fin");
    // The browsers' (Chromium's and Firefox's, h2tls/): RST_STREAM CANCEL after both Close
    // frames, when the server did not end its side.
    let cancel = conns.iter().find(|c| c["tcp_end"] == "client_rst").unwrap();
    assert_eq!(codes(cancel), ["reset_after_close"]);
    let ids: Vec<u64> = conns
        .iter()
        .map(|c| c["h2_stream_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 2);
}

#[test]
fn a_connect_without_the_servers_setting_is_the_clients_fault_and_the_reset_is_named() {
    let recs = records(&sample("h2c-no-connect-setting.pcap"), &[]);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["verdict"], "failed");
    assert_eq!(r["h2"]["connect_protocol_enabled"], false);
    assert_eq!(r["h2"]["reset"]["name"], "PROTOCOL_ERROR");
    assert_eq!(r["h2"]["reset"]["by"], "server");
    assert_eq!(
        codes(r),
        ["h2_connect_protocol_not_enabled", "h2_stream_reset"]
    );
}

#[test]
fn an_h2_refusal_shows_its_body_like_an_http1_refusal() {
    let recs = records(&sample("h2c-hypercorn-403-body.pcap"), &[]);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        (r["verdict"].as_str(), r["status"].as_u64()),
        (Some("failed"), Some(403))
    );
    let body = &r["response"]["body"];
    assert_eq!(body["text"], "origin not allowed here");
    assert_eq!(body["length"], 23, "END_STREAM ended it: the whole body");
    assert_eq!(body["truncated"], false);
    assert_eq!(codes(r), ["forbidden"]);
    assert!(
        r["findings"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("the body says \"origin not allowed here\""),
        "{r}"
    );
    let out = crate::util::wssniff(&[
        "-r",
        sample("h2c-hypercorn-403-body.pcap").to_str().unwrap(),
        "-v",
    ]);
    assert!(crate::util::stdout(&out).contains("\n      < origin not allowed here\n"));
}

#[test]
fn an_h2_connection_captured_mid_way_is_recognised_by_its_frames() {
    let path = sample("h2c-mid-connection.pcap");
    let recs = records(&path, &[]);
    assert_eq!(
        recs.len(),
        2,
        "both streams' CONNECTs came after the capture began"
    );
    for r in &recs {
        assert_eq!(r["verdict"], "ok", "{r}");
        assert_eq!(r["h2"]["mid_connection"], true);
        assert!(
            r["h2"]["connect_protocol_enabled"].is_null(),
            "no SETTINGS seen"
        );
        assert_eq!(codes(r), ["h2_fields_unknown"]);
    }
    let conns = connections(&path, &[]);
    assert_eq!(conns.len(), 2);
    assert!(conns.iter().all(|c| c["ending"] == "clean"));
    // From the start the same connection says nothing of the sort.
    let whole = records(&sample("h2c-hypercorn-ok.pcap"), &[]);
    assert!(whole
        .iter()
        .all(|r| r["h2"].get("mid_connection").is_none()));
}

#[test]
fn node_http2_on_both_ends_opens_and_closes_a_websocket_stream() {
    let path = sample("h2c-node-http2.pcap");
    let recs = records(&path, &[]);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(
        r["h2"]["connect_protocol_enabled"], true,
        "enableConnectProtocol"
    );
    assert_eq!(codes(r), Vec::<&str>::new());
    let conns = connections(&path, &[]);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["ending"], "clean");
    assert_eq!(conns[0]["client_to_server"]["preview"], "hello from node");
    assert_eq!(
        conns[0]["tcp_end"], "client_fin",
        "END_STREAM with the client's Close"
    );
}

#[test]
fn chromium_falls_back_to_an_http1_upgrade_when_the_h2_settings_do_not_enable_connect() {
    let pcap = sample("h2tls/h2tls-chromium-nginx-fallback.pcap");
    let keys = sample("h2tls/h2tls-chromium-nginx-fallback.keys");
    let recs = records(&pcap, &["--keylog", keys.to_str().unwrap()]);
    // Chromium → nginx (its own TLS connection, HTTP/1.1), nginx → hypercorn.
    assert_eq!(recs.len(), 2);
    let browser = recs
        .iter()
        .find(|r| r["server"] == "127.0.0.1:18213")
        .unwrap();
    assert_eq!(browser["method"], "GET");
    assert!(browser["h2"].is_null());
    assert_eq!(browser["verdict"], "ok");
    assert_eq!(codes(browser), ["h2_fallback"]);
    let f = &browser["findings"][0]["message"];
    assert!(
        f.as_str()
            .unwrap()
            .contains("did not enable extended CONNECT"),
        "{f}"
    );
    // The upstream leg had no HTTP/2 connection next to it.
    let upstream = recs
        .iter()
        .find(|r| r["server"] == "127.0.0.1:18214")
        .unwrap();
    assert!(codes(upstream).is_empty());
    // Where the h2 connection enabled it, Chromium used it and nothing falls back.
    let chromium_h2 = sample("h2tls/h2tls-chromium-hypercorn.pcap");
    let keys = sample("h2tls/h2tls-chromium-hypercorn.keys");
    let recs = records(&chromium_h2, &["--keylog", keys.to_str().unwrap()]);
    assert!(recs
        .iter()
        .all(|r| !codes(r).iter().any(|c| c == "h2_fallback")));
}

/// The ALPN downgrade (samples/generate-h2.sh, h2tls-alpn-downgrade-nginx): a client offering
/// h2 and http/1.1 by ALPN, nginx on TLS without HTTP/2 selecting http/1.1, and the client's
/// classic upgrade on that same TLS connection (proxied to hypercorn, both legs captured). The
/// handshake carried by TLS says RFC 8441 was impossible there; what tshark decrypted agrees
/// (the offer, the selection, the requests and the 101s); the whole output is a golden.
#[test]
fn an_upgrade_after_the_server_declined_the_offered_h2_says_extended_connect_was_impossible() {
    let pcap = sample("h2tls/h2tls-alpn-downgrade-nginx.pcap");
    let keys = sample("h2tls/h2tls-alpn-downgrade-nginx.keys");
    let keylog = ["--keylog", keys.to_str().unwrap()];
    let all = all_records(&pcap, &keylog);
    let of =
        |t: &str| -> Vec<&serde_json::Value> { all.iter().filter(|r| r["type"] == t).collect() };
    let (handshakes, tls) = (of("handshake"), of("tls"));
    assert_eq!((handshakes.len(), tls.len()), (2, 1), "{all:#?}");
    // tshark: packet, source port, handshake types, ALPN, method, path, status.
    let text = std::fs::read_to_string(pcap.with_extension("tshark-alpn.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let alpn_of = |kind: &str| {
        rows.iter()
            .find(|r| r[2].split(',').any(|t| t == kind))
            .map(|r| r[3])
            .unwrap()
    };
    let offered: Vec<&str> = tls[0]["alpn_offered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(offered.join(","), alpn_of("1"), "the ClientHello's offer");
    assert_eq!(offered, ["h2", "http/1.1"]);
    assert_eq!(tls[0]["alpn"], alpn_of("2"), "the ServerHello's selection");
    let client_leg = handshakes
        .iter()
        .find(|h| h["community_id"] == tls[0]["community_id"])
        .unwrap();
    assert_eq!(client_leg["verdict"], "ok");
    assert!(client_leg["h2"].is_null());
    assert_eq!(client_leg["tls"]["alpn"], "http/1.1");
    assert_eq!(codes(client_leg), ["h2_alpn_downgrade"]);
    let message = client_leg["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("offered h2 by ALPN and the server selected http/1.1")
            && message.contains("could not carry an extended CONNECT"),
        "{message}"
    );
    // nginx's plaintext leg to hypercorn offered nothing by ALPN: no downgrade there.
    let upstream = handshakes
        .iter()
        .find(|h| h["server"] == "127.0.0.1:18216")
        .unwrap();
    assert!(
        upstream.get("tls").is_none() && codes(upstream).is_empty(),
        "{upstream}"
    );
    // Both requests and both 101s are the packets tshark decrypted.
    for h in &handshakes {
        let port = h["server"].as_str().unwrap().rsplit(':').next().unwrap();
        let client_port = h["client"].as_str().unwrap().rsplit(':').next().unwrap();
        let request = rows
            .iter()
            .find(|r| r[1] == client_port && r[4] == "GET")
            .unwrap();
        assert_eq!(
            h["request"]["packets"][0].as_u64(),
            request[0].parse().ok(),
            "{h}"
        );
        assert_eq!(h["path"], request[5]);
        let response = rows.iter().find(|r| r[1] == port && r[6] == "101").unwrap();
        assert_eq!(
            h["response"]["packets"][0].as_u64(),
            response[0].parse().ok(),
            "{h}"
        );
    }
    // The JSON output with the key log is the sample's golden; the lines name the finding.
    h2tls_golden(&pcap, &keys);
    let (p, k) = (pcap.to_str().unwrap(), keys.to_str().unwrap());
    let lines = stdout(&wssniff(&["-r", p, "--keylog", k, "-v"]));
    assert!(lines.contains("h2_alpn_downgrade"), "{lines}");
}

/// HAProxy's log of one capture (`expected/NAME.pcap.proxy.log`): per request its path, the
/// status it logged (the backend's answer, 101 for a WebSocket it passed on; its own 503 when
/// no backend answered) and its termination state (`----` is a normal end; `SC--`
/// the server side refused the connection).
fn haproxy_log(name: &str) -> Vec<(String, u64, String)> {
    let text =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.proxy.log"))).unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // client [date] frontend backend/server timers status bytes - - state … "GET url HTTP/2.0"
            let url = line.split('"').nth(1).unwrap().split(' ').nth(1).unwrap();
            // An HTTP/2 request is logged in absolute form (`http://host/path`).
            let path = match url.strip_prefix("http://") {
                Some(rest) => format!("/{}", rest.split_once('/').unwrap().1),
                None => url.to_owned(),
            };
            (path, f[5].parse().unwrap(), f[9].to_owned())
        })
        .collect()
}

/// A proxy's own 503 after its backend refused (HAProxy's `SC--`): the record says the
/// backend refused, naming the port nobody listened on (generate-h2.sh's 18223), and cites
/// every RST that refused a SYN to it, as many as HAProxy's log counts connection attempts
/// (its retries field plus the first try).
fn assert_backend_refused(name: &str, record: &serde_json::Value) {
    assert_eq!(
        codes(record),
        ["service_unavailable", "backend_refused"],
        "{name}"
    );
    let f = &record["findings"][1];
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("the backend 127.0.0.1:18223 refused the connection")
            && message.ends_with("then the proxy answered 503"),
        "{name}: {message}"
    );
    let log =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.proxy.log"))).unwrap();
    // … SC-- actconn/feconn/beconn/srv_conn/retries …
    let f_log: Vec<&str> = log.split_whitespace().collect();
    let retries: u64 = f_log[10].rsplit('/').next().unwrap().parse().unwrap();
    let rsts = f["packets"].as_array().unwrap();
    assert_eq!(rsts.len() as u64, retries + 1, "{name}: {log}");
    assert!(
        message.contains(&format!("{} times in", retries + 1)),
        "{message}"
    );
}

/// HAProxy answering a classic HTTP/1.1 GET with Upgrade itself, 503, because the backend
/// refused its connects (haproxy-h1-backend-down): the same finding as on the HTTP/2 leg.
#[test]
fn haproxy_answering_an_http1_upgrade_with_503_after_refused_connects_says_the_backend_refused() {
    let name = "haproxy-h1-backend-down.pcap";
    let [(path, status, state)] = haproxy_log(name).try_into().unwrap();
    assert_eq!(
        (path.as_str(), status, state.as_str()),
        ("/down", 503, "SC--")
    );
    let recs = records(&sample(name), &[]);
    assert_eq!(
        recs.len(),
        1,
        "only the client's leg: the backend never answered"
    );
    assert!(recs[0]["h2"].is_null());
    assert_eq!(recs[0]["status"], 503);
    assert_backend_refused(name, &recs[0]);
}

/// The statuses the client logged per stream (`stream N: status S`).
fn client_statuses(name: &str) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log")))
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("[h2ws] stream "))
        .filter_map(|l| {
            let (id, rest) = l.split_once(": status ")?;
            Some((id.parse().ok()?, rest.parse().ok()?))
        })
        .collect()
}

#[test]
fn haproxy_translating_h2_to_http1_is_one_incident_with_two_legs_blamed_where_it_broke() {
    // (sample, the hop's broken_at per HAProxy log line with a backend answer)
    for (name, broken_at) in [
        ("h2c-haproxy-ok.pcap", "nowhere"),
        ("h2c-haproxy-backend-refuses.pcap", "upstream"),
        ("h2c-haproxy-backend-down.pcap", ""),
    ] {
        let all = all_records(&sample(name), &[]);
        let of = |kind: &str| -> Vec<&serde_json::Value> {
            all.iter().filter(|r| r["type"] == kind).collect()
        };
        let (handshakes, hops) = (of("handshake"), of("hop"));
        let log = haproxy_log(name);
        let clients = client_statuses(name);
        assert_eq!(
            clients.len(),
            log.len(),
            "{name}: one client stream per request"
        );
        for ((path, status, state), (stream, client_status)) in log.iter().zip(&clients) {
            // The client leg: the stream the client logged, with the status both logged.
            let down = handshakes
                .iter()
                .find(|r| r["path"] == path.as_str() && !r["h2"].is_null())
                .unwrap_or_else(|| panic!("{name}: no h2 leg for {path}"));
            assert_eq!(
                down["h2"]["stream_id"].as_u64(),
                Some(*stream),
                "{name} {path}"
            );
            assert_eq!(
                down["status"].as_u64(),
                Some(*client_status),
                "{name} {path}"
            );
            // HAProxy answers the stream 200 for the backend's 101 (RFC 8441 §5).
            let to_client = if *status == 101 { 200 } else { *status };
            assert_eq!(
                *client_status, to_client,
                "{name}: HAProxy's log and the client's agree"
            );
            let hop = hops.iter().find(|h| h["downstream"] == down["id"]);
            if state == "SC--" {
                // The backend refused HAProxy's connects: no upstream leg exists, so no hop;
                // the client's record names the proxy's own 503 and, from the refused
                // connects in the same capture, that the backend refused.
                assert!(hop.is_none(), "{name}");
                assert_backend_refused(name, down);
                continue;
            }
            assert_eq!(state, "----", "{name}");
            let hop = hop.unwrap_or_else(|| panic!("{name}: {path} not linked"));
            let up = handshakes
                .iter()
                .find(|r| r["id"] == hop["upstream"])
                .unwrap();
            assert!(up["h2"].is_null(), "{name}: the upstream leg is HTTP/1.1");
            assert_eq!(up["path"], path.as_str());
            assert_eq!(
                up["status"].as_u64(),
                Some(*status),
                "{name}: the backend's answer"
            );
            assert_eq!(hop["downstream_h2_stream"].as_u64(), Some(*stream));
            assert_eq!(hop["key"], up["key"], "the key HAProxy made up");
            assert_eq!(
                hop["broken_at"], broken_at,
                "{name}: {}",
                hop["explanation"]
            );
            assert_eq!(hop["request_changes"], serde_json::json!([]), "{name}");
            assert!(
                hop["proxy_software"].is_null(),
                "HAProxy passes hypercorn's Server on"
            );
        }
        assert_eq!(
            hops.len(),
            log.iter().filter(|(_, _, s)| s == "----").count(),
            "{name}: a hop per request HAProxy passed to the backend, no other"
        );
    }
}

#[test]
fn haproxy_translating_http1_to_h2_upstream_links_the_same_way_round_the_other() {
    let name = "h2c-haproxy-h1-to-h2.pcap";
    let all = all_records(&sample(name), &[]);
    let handshakes: Vec<_> = all.iter().filter(|r| r["type"] == "handshake").collect();
    let hops: Vec<_> = all.iter().filter(|r| r["type"] == "hop").collect();
    let [(path, status, state)] = haproxy_log(name).try_into().unwrap();
    assert_eq!(
        (path.as_str(), status, state.as_str()),
        ("/chat", 101, "----")
    );
    let client_log =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log")))
            .unwrap();
    assert!(client_log.contains("status: HTTP/1.1 101"), "{client_log}");
    assert_eq!(handshakes.len(), 2);
    assert_eq!(hops.len(), 1);
    let hop = hops[0];
    let down = handshakes
        .iter()
        .find(|r| r["id"] == hop["downstream"])
        .unwrap();
    let up = handshakes
        .iter()
        .find(|r| r["id"] == hop["upstream"])
        .unwrap();
    assert!(down["h2"].is_null(), "the client spoke HTTP/1.1");
    assert_eq!(down["status"], 101);
    assert_eq!(up["method"], "CONNECT");
    assert_eq!(up["status"], 200, "extended CONNECT answered 200 upstream");
    assert_eq!(
        hop["upstream_h2_stream"].as_u64(),
        up["h2"]["stream_id"].as_u64()
    );
    assert!(hop.get("downstream_h2_stream").is_none());
    assert_eq!(hop["broken_at"], "nowhere", "{}", hop["explanation"]);
    // Both switched: the two WebSocket connections ended cleanly, each on its own leg.
    let conns = connections(&sample(name), &[]);
    assert_eq!(conns.len(), 2);
    assert!(conns.iter().all(|c| c["ending"] == "clean"), "{conns:?}");
}

#[test]
fn streams_open_before_the_capture_and_connects_built_on_unseen_hpack_state_say_what_is_unknown() {
    // h2c-hypercorn-ok from packet 12: stream 1's CONNECT and 200 went by before the capture,
    // stream 3's CONNECT is captured but refers to HPACK entries stream 1's block made.
    let path = sample("h2c-mid-stream.pcap");
    assert!(
        records(&path, &[]).is_empty(),
        "no handshake is guessed from what the capture cannot show"
    );
    let conns = connections(&path, &[]);
    assert_eq!(
        conns.len(),
        2,
        "both WebSockets, known from their DATA frames"
    );
    for (c, stream) in conns.iter().zip([1, 3]) {
        assert_eq!(c["h2_stream_id"], stream);
        assert_eq!(c["handshake_observed"], false);
        assert_eq!(c["ending"], "clean", "{c}");
        assert_eq!(
            c["client_to_server"]["preview"],
            format!("hello on {stream}")
        );
        let unknown = c["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "h2_fields_unknown")
            .unwrap_or_else(|| panic!("{c}"));
        let message = unknown["message"].as_str().unwrap();
        if stream == 1 {
            assert!(
                message.contains("stream 1 was open before the capture started"),
                "{message}"
            );
        } else {
            // Exactly what decoded, and how much did not.
            assert!(
                message.contains("5 of its 7 request fields came from HPACK table entries made before the capture (known: :scheme: http, :path: /chat/1)"),
                "{message}"
            );
        }
        // HTTP/2 has no 101: what the capture missed is the stream's extended CONNECT and
        // its 200 (stream 1), or the fields of the CONNECT it did capture (stream 3).
        let missed = c["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "handshake_not_observed")
            .unwrap_or_else(|| panic!("{c}"));
        let missed = missed["message"].as_str().unwrap();
        assert!(!missed.contains("after the 101"), "{missed}");
        let expect = if stream == 1 {
            "the capture started after this HTTP/2 stream's extended CONNECT and the :status 200 that answered it"
        } else {
            "this HTTP/2 stream's request was captured but not all its fields could be decoded"
        };
        assert!(missed.contains(expect), "{missed}");
    }
    // A classic WebSocket captured after its 101 keeps the HTTP/1.1 words.
    let h1 = connections(&sample("mid-connection.pcap"), &[]);
    assert!(
        h1.iter()
            .flat_map(|c| c["findings"].as_array().unwrap())
            .any(|f| f["code"] == "handshake_not_observed"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .ends_with("the capture started after the 101")),
        "{h1:?}"
    );
}

/// An HTTP/2 frame (RFC 9113 §4.1); also used by tests/it/engineio.rs.
pub(crate) fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut v = vec![n[1], n[2], n[3], kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The flood thresholds are flags that reach the HTTP/2 layer: an h2c WebSocket stream
/// (prior knowledge) whose client then sends 1001 PINGs the server never answers is an
/// `h2_flood` by default (nghttp2's 1000), not with `--h2-max-unacked 2000` nor with 0 (off).
#[test]
fn the_unacknowledged_ping_threshold_is_the_flag_given() {
    use crate::traffic::{packet, pcap_header, pcap_record, tmpdir};
    let block = |fields: &[(&str, &str)]| {
        loona_hpack::Encoder::new().encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    };
    let client = [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        h2_frame(4, 0, 0, &[]),
        h2_frame(
            1,
            0x4,
            1,
            &block(&[
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", "/chat"),
                (":authority", "chat.example"),
                ("sec-websocket-version", "13"),
            ]),
        ),
    ]
    .concat();
    let server = [
        h2_frame(4, 0, 0, &[0, 8, 0, 0, 0, 1]),
        h2_frame(1, 0x4, 1, &block(&[(":status", "200")])),
    ]
    .concat();
    let pings = h2_frame(6, 0, 0, &[0; 8]).repeat(1_001);
    let seq = |b: &[u8]| u32::try_from(b.len()).unwrap();
    let packets = [
        packet(true, 40000, 0, "S", &[]),
        packet(false, 40000, 0, "SA", &[]),
        packet(true, 40000, 1, "PA", &client),
        packet(false, 40000, 1, "PA", &server),
        packet(true, 40000, 1 + seq(&client), "PA", &pings),
    ];
    let mut bytes = pcap_header(262_144);
    for (i, p) in packets.iter().enumerate() {
        let n = u32::try_from(p.len()).unwrap();
        bytes.extend(pcap_record(
            1_700_000_000 + u32::try_from(i).unwrap(),
            p,
            n,
            n,
        ));
    }
    let dir = tmpdir("h2-flood-flags");
    let path = dir.join("pings.pcap");
    std::fs::write(&path, bytes).unwrap();
    let flood = |extra: &[&str]| {
        connections(&path, extra)
            .iter()
            .flat_map(codes)
            .any(|c| c == "h2_flood")
    };
    assert_eq!(
        connections(&path, &[]).len(),
        1,
        "the WebSocket stream opened"
    );
    assert!(flood(&[]), "1001 unanswered PINGs past nghttp2's 1000");
    assert!(!flood(&["--h2-max-unacked", "2000"]));
    assert!(!flood(&["--h2-max-unacked", "0"]));
    assert!(flood(&[
        "--h2-max-unacked",
        "1000",
        "--h2-max-settings",
        "0"
    ]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// h2c by `Upgrade: h2c` from real peers (h2c-upgrade-hypercorn): the connection starts as
/// HTTP/1.1, switches at hypercorn's 101, and the WebSocket is stream 3's extended CONNECT
/// (the upgraded GET / is stream 1, a page, no handshake); tshark's dissection of the same
/// capture (which follows the upgrade itself) is checked by `decoded_headers_match_tshark`.
#[test]
fn an_h2c_upgrade_then_an_extended_connect_from_real_peers_is_one_websocket_stream() {
    let path = sample("h2c-upgrade-hypercorn.pcap");
    let recs = records(&path, &[]);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let r = &recs[0];
    assert_eq!(
        (r["method"].as_str(), r["status"].as_u64()),
        (Some("CONNECT"), Some(200))
    );
    assert_eq!(r["h2"]["stream_id"], 3);
    assert_eq!(r["h2"]["connect_protocol_enabled"], true);
    assert_eq!(r["verdict"], "ok");
    let conns = connections(&path, &[]);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["h2_stream_id"], 3);
    assert_eq!(conns[0]["ending"], "clean");
    let tshark = std::fs::read_to_string(
        root().join("samples/expected/h2c-upgrade-hypercorn.pcap.tshark.tsv"),
    )
    .unwrap();
    assert!(
        tshark.lines().any(|l| l.split('\t').nth(1) == Some("1")),
        "the upgraded GET's answer"
    );
}

/// One packet of `NAME.tshark-frames.tsv` (samples/generate-h2.sh, `dissect_frames` and
/// `dissect_tls_frames`): tshark's HTTP/2 frames in it, or its TCP RST.
struct FrameRow {
    packet: u64,
    time: f64,
    port: u16,
    tcp_rst: bool,
    /// (type, stream, flags) of every frame, in order.
    frames: Vec<(u8, u32, u8)>,
    /// The error code of each RST_STREAM frame, in order.
    rst_errors: Vec<u32>,
    /// A GOAWAY's (error code, last stream id).
    goaway: Option<(u32, u32)>,
    /// The parameter ids of the packet's SETTINGS frames.
    settings_ids: Vec<u16>,
}

fn tshark_frames(path: &std::path::Path) -> Vec<FrameRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let num = |v: &str| -> u64 {
        v.strip_prefix("0x").map_or_else(
            || v.parse().unwrap(),
            |h| u64::from_str_radix(h, 16).unwrap(),
        )
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            let col = |i: usize| c.get(i).copied().unwrap_or("");
            let (types, streams, flags) = (list(col(4)), list(col(5)), list(col(6)));
            let frames = types
                .iter()
                .zip(&streams)
                .zip(&flags)
                .map(|((t, s), f)| {
                    (
                        u8::try_from(num(t)).unwrap(),
                        u32::try_from(num(s)).unwrap(),
                        u8::try_from(num(f)).unwrap(),
                    )
                })
                .collect();
            let goaway = match (list(col(8)).first(), list(col(9)).first()) {
                (Some(e), Some(l)) => Some((
                    u32::try_from(num(e)).unwrap(),
                    u32::try_from(num(l)).unwrap(),
                )),
                _ => None,
            };
            FrameRow {
                packet: col(0).parse().unwrap(),
                time: col(1).parse().unwrap(),
                port: col(2).parse().unwrap(),
                tcp_rst: col(3) == "1" || col(3) == "True",
                frames,
                rst_errors: list(col(7))
                    .iter()
                    .map(|e| u32::try_from(num(e)).unwrap())
                    .collect(),
                goaway,
                settings_ids: list(col(10))
                    .iter()
                    .map(|e| u16::try_from(num(e)).unwrap())
                    .collect(),
            }
        })
        .collect()
}

/// The one finding `code` of a record.
fn finding<'a>(record: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {record}"))
}

/// RFC 9113 §7 names of the codes these samples' peers sent.
fn error_name(code: u32) -> &'static str {
    match code {
        0 => "NO_ERROR",
        2 => "INTERNAL_ERROR",
        8 => "CANCEL",
        11 => "ENHANCE_YOUR_CALM",
        _ => panic!("unexpected error code {code}"),
    }
}

/// The server's GOAWAY as tshark dissected it (packet, code, last stream).
fn server_goaway(rows: &[FrameRow], server_port: u16) -> Option<(u64, u32, u32)> {
    rows.iter()
        .filter(|r| r.port == server_port)
        .find_map(|r| r.goaway.map(|(e, l)| (r.packet, e, l)))
}

/// The floods python h2 drove at node's http2 server (nghttp2; samples/generate-h2.sh,
/// h2c-node-*): wssniff's findings name the packets tshark's dissection shows crossing
/// nghttp2's default limits, and the server's reaction, which is the real part of these
/// samples, is what tshark saw and the client logged: for the rapid reset (2000 GETs each
/// cancelled at once) a GOAWAY INTERNAL_ERROR cutting the open WebSocket; for the PING flood
/// from a client that does not read, a TCP RST (nghttp2 drops the connection when the ACKs
/// it queues pass 1000) with no GOAWAY; for the SETTINGS flood a GOAWAY INTERNAL_ERROR.
#[test]
fn floods_from_python_h2_at_node_cross_nghttp2s_limits_where_tshark_shows_and_node_reacts() {
    const PORT: u16 = 18204;
    for name in [
        "h2c-node-rapid-reset.pcap",
        "h2c-node-ping-flood.pcap",
        "h2c-node-settings-flood.pcap",
    ] {
        let pcap = sample(name);
        let rows =
            tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
        let client_log =
            std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log")))
                .unwrap();
        let conns = connections(&pcap, &[]);
        assert_eq!(
            conns.len(),
            1,
            "{name}: the WebSocket opened before the flood"
        );
        let c = &conns[0];
        assert_eq!(c["h2_stream_id"], 1);
        assert_eq!(
            c["client_to_server"]["messages"], 1,
            "{name}: the message before"
        );
        let goaway = server_goaway(&rows, PORT);
        if name.contains("rapid-reset") {
            // nghttp2's bucket (1000 tokens, 33 a second) replayed on tshark's times of the
            // client's RST_STREAM frames: the first one without a token is wssniff's packet.
            let (mut tokens, mut last, mut first_over, mut resets) =
                (1000.0f64, None::<f64>, None, 0);
            for r in rows.iter().filter(|r| r.port != PORT) {
                for _ in r.frames.iter().filter(|f| f.0 == 3) {
                    resets += 1;
                    if let Some(t) = last {
                        tokens = (tokens + (r.time - t) * 33.0).min(1000.0);
                    }
                    last = Some(r.time);
                    if tokens < 1.0 {
                        first_over.get_or_insert(r.packet);
                    } else {
                        tokens -= 1.0;
                    }
                }
                assert!(r.rst_errors.iter().all(|&e| e == 8), "CANCEL each time");
            }
            assert_eq!(resets, 2000, "{name}: tshark's client RST_STREAM frames");
            let f = finding(c, "h2_rapid_reset");
            assert_eq!(f["packets"][0].as_u64(), first_over, "{name}: {f}");
        } else {
            // PING and SETTINGS the client sent less the server's ACKs, in packet order: the
            // first packet past 1000 unacknowledged is wssniff's.
            let (mut unacked, mut first_over, mut sent) = (0i64, None, 0);
            for r in &rows {
                for &(kind, _, flags) in r.frames.iter().filter(|f| f.0 == 4 || f.0 == 6) {
                    let ack = flags & 1 == 1;
                    if r.port != PORT && !ack {
                        unacked += 1;
                        sent += 1;
                        if unacked > 1000 {
                            first_over.get_or_insert((r.packet, kind));
                        }
                    } else if r.port == PORT && ack {
                        unacked -= 1;
                    }
                }
            }
            assert!(sent > 1000, "{name}: {sent} sent");
            let f = finding(c, "h2_flood");
            let (packet, kind) = first_over.unwrap();
            assert_eq!(f["packets"][0].as_u64(), Some(packet), "{name}: {f}");
            let last = if kind == 6 {
                "the last a PING"
            } else {
                "the last a SETTINGS"
            };
            assert!(f["message"].as_str().unwrap().contains(last), "{f}");
        }
        // The server's reaction.
        if name.contains("ping") {
            assert!(goaway.is_none(), "{name}: node sent no GOAWAY");
            assert!(rows.iter().any(|r| r.port == PORT && r.tcp_rst));
            assert_eq!(c["tcp_end"], "server_rst", "{c}");
            assert!(
                client_log.contains("Connection reset by peer"),
                "{client_log}"
            );
            assert!(!codes(c).iter().any(|c| c.starts_with("h2_goaway")));
        } else {
            let (packet, code, last) = goaway.expect("node's GOAWAY");
            let f = finding(c, "h2_goaway_closed_websocket");
            assert_eq!(f["packets"][0].as_u64(), Some(packet), "{f}");
            let text = format!("GOAWAY {} (last stream {last})", error_name(code));
            assert!(f["message"].as_str().unwrap().contains(&text), "{f}");
            assert!(
                client_log.contains(&format!(
                    "GOAWAY: error {code} ({}), last stream {last}",
                    error_name(code)
                )),
                "{client_log}"
            );
            assert_eq!(f["severity"], "error");
        }
        assert_eq!(
            c["close"]["handshake_completed"], false,
            "{name}: no Close ever"
        );
    }
}

/// HAProxy soft-stopped (a reload's old process) with a WebSocket open over h2c
/// (h2c-haproxy-goaway-reload): its GOAWAY is graceful (NO_ERROR, last stream 2^31-1, RFC 9113
/// §6.8), which tshark shows in the packet wssniff cites; the stream goes on (a second message
/// each way after it, as the client logged) and closes cleanly on both legs.
#[test]
fn a_proxy_reload_sends_a_graceful_goaway_and_the_open_websocket_finishes() {
    let name = "h2c-haproxy-goaway-reload.pcap";
    let pcap = sample(name);
    let rows = tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
    let (packet, code, last) = server_goaway(&rows, 18207).expect("HAProxy's GOAWAY");
    assert_eq!((code, last), (0, (1 << 31) - 1));
    let conns = connections(&pcap, &[]);
    assert_eq!(conns.len(), 2, "the h2 stream and HAProxy's HTTP/1.1 leg");
    let h2 = conns.iter().find(|c| c["h2_stream_id"] == 1).unwrap();
    assert_eq!(codes(h2), ["h2_goaway_graceful"]);
    let f = finding(h2, "h2_goaway_graceful");
    assert_eq!(f["packets"][0].as_u64(), Some(packet));
    assert_eq!(f["severity"], "info");
    assert!(
        f["message"].as_str().unwrap().contains("closed cleanly"),
        "{f}"
    );
    for c in &conns {
        assert_eq!(c["ending"], "clean", "{c}");
        assert_eq!(
            c["client_to_server"]["messages"], 2,
            "one message before, one after"
        );
    }
    // The message after the GOAWAY: the client's DATA on stream 1 after tshark's GOAWAY.
    assert!(rows.iter().any(|r| r.packet > packet
        && r.port != 18207
        && r.frames.iter().any(|f| f.0 == 0 && f.1 == 1)));
    let log = std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log")))
        .unwrap();
    assert!(log.contains("echo after the GOAWAY"), "{log}");
    // The upstream leg knows nothing of it: no finding there.
    let h1 = conns.iter().find(|c| c["h2_stream_id"].is_null()).unwrap();
    assert!(codes(h1).is_empty(), "{h1}");
    let recs = records(&pcap, &[]);
    assert!(recs.iter().all(|r| r["verdict"] == "ok"));
}

/// The JSON of an `h2tls/` sample with its key log, against its golden `NAME.jsonl`
/// (WSSNIFF_BLESS=1 rewrites it).
fn h2tls_golden(pcap: &std::path::Path, keys: &std::path::Path) {
    let p = pcap.to_str().unwrap();
    let json = stdout(&wssniff(&[
        "-r",
        p,
        "--keylog",
        keys.to_str().unwrap(),
        "--json",
    ]));
    let golden = pcap.with_extension("jsonl");
    if std::env::var_os("WSSNIFF_BLESS").is_some() {
        std::fs::write(&golden, &json).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("missing {}; run with WSSNIFF_BLESS=1", golden.display()));
    assert_eq!(json, expected, "{p}: output differs from its golden");
}

/// Headless Firefox ESR 153 with a profile trusting a local CA (h2tls-firefox-hypercorn):
/// hypercorn's SETTINGS enable extended CONNECT (parameter 8 in tshark's view), so Firefox
/// sends the WebSocket as stream 5 of the page's h2 connection (3 was the page, 7 the
/// favicon). Firefox closes 1000, hypercorn answers without ending its side, and about a
/// second later Firefox resets the stream (CANCEL) where tshark shows it: a clean ending,
/// said in the stream's words, not TCP's.
#[test]
fn firefox_opens_its_websocket_as_a_stream_of_the_pages_h2_connection_and_cancels_it_after_the_close(
) {
    let pcap = sample("h2tls/h2tls-firefox-hypercorn.pcap");
    let keys = sample("h2tls/h2tls-firefox-hypercorn.keys");
    let extra = ["--keylog", keys.to_str().unwrap()];
    let rows = tshark_frames(&pcap.with_extension("tshark-frames.tsv"));
    let recs = records(&pcap, &extra);
    assert_eq!(recs.len(), 1, "the page and the favicon are no handshakes");
    let r = &recs[0];
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(
        (r["method"].as_str(), r["status"].as_u64()),
        (Some("CONNECT"), Some(200))
    );
    assert_eq!(r["h2"]["stream_id"], 5);
    assert_eq!(r["h2"]["connect_protocol_enabled"], true);
    assert!(rows
        .iter()
        .any(|row| row.port == 18217 && row.settings_ids.contains(&8)));
    assert!(
        r["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "user-agent"
                && h["value"].as_str().unwrap().contains("Firefox/153"))
    );
    assert_eq!(r["tls"]["alpn"], "h2");
    let conns = connections(&pcap, &extra);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["ending"], "clean", "{c}");
    assert_eq!(c["close"]["handshake_completed"], true);
    assert_eq!(c["close"]["initiator"], "client");
    assert_eq!(c["tcp_end"], "client_rst");
    // tshark: the client's RST_STREAM CANCEL on stream 5, after both Close frames.
    let cancel = rows
        .iter()
        .find(|row| row.port != 18217 && row.frames.iter().any(|f| f.0 == 3 && f.1 == 5))
        .unwrap();
    assert_eq!(cancel.rst_errors, [8]);
    assert!(cancel.packet > c["close"]["server"]["packet"].as_u64().unwrap());
    let f = finding(c, "reset_after_close");
    assert_eq!(f["packets"][0].as_u64(), Some(cancel.packet));
    assert!(
        f["message"].as_str().unwrap().starts_with(
            "the client reset the HTTP/2 stream (RST_STREAM CANCEL) after both close frames"
        ),
        "{f}"
    );
    // About a second after the server's Close; TCP itself ended with FINs, no RST, and no
    // GOAWAY either way (Firefox closed TCP at exit without one).
    let server_close = c["close"]["server"]["ts"].as_f64().unwrap();
    let wait = cancel.time - server_close;
    assert!((0.9..1.2).contains(&wait), "{wait} s");
    assert!(rows.iter().all(|row| !row.tcp_rst && row.goaway.is_none()));
    // Neither Close frame carried END_STREAM (flag 1 on a DATA frame of stream 5).
    assert!(!rows.iter().any(|row| row
        .frames
        .iter()
        .any(|f| f.0 == 0 && f.1 == 5 && f.2 & 1 == 1)));
    h2tls_golden(&pcap, &keys);
}

/// The same Firefox against nginx 1.22 with `http2` (h2tls-firefox-nginx-fallback): nginx's
/// SETTINGS lack ENABLE_CONNECT_PROTOCOL (no parameter 8 in tshark's view), so Firefox opens
/// the WebSocket on a second TLS connection offering only http/1.1, and wssniff says why;
/// nginx's upstream leg to hypercorn links as the hop.
#[test]
fn firefox_falls_back_to_an_http1_connection_when_the_h2_settings_do_not_enable_connect() {
    let pcap = sample("h2tls/h2tls-firefox-nginx-fallback.pcap");
    let keys = sample("h2tls/h2tls-firefox-nginx-fallback.keys");
    let extra = ["--keylog", keys.to_str().unwrap()];
    let rows = tshark_frames(&pcap.with_extension("tshark-frames.tsv"));
    let server_settings: Vec<&FrameRow> = rows
        .iter()
        .filter(|r| r.port == 18218 && !r.settings_ids.is_empty())
        .collect();
    assert!(!server_settings.is_empty(), "nginx's SETTINGS");
    assert!(server_settings.iter().all(|r| !r.settings_ids.contains(&8)));
    let all = all_records(&pcap, &extra);
    let recs: Vec<_> = all.iter().filter(|r| r["type"] == "handshake").collect();
    assert_eq!(recs.len(), 2);
    let browser = recs
        .iter()
        .find(|r| r["server"] == "127.0.0.1:18218")
        .unwrap();
    assert_eq!(
        (browser["method"].as_str(), browser["status"].as_u64()),
        (Some("GET"), Some(101))
    );
    assert!(browser["h2"].is_null());
    assert_eq!(browser["tls"]["alpn"], "http/1.1");
    assert_eq!(codes(browser), ["h2_fallback"]);
    assert!(finding(browser, "h2_fallback")["message"]
        .as_str()
        .unwrap()
        .contains("did not enable extended CONNECT"));
    let tls: Vec<_> = all.iter().filter(|r| r["type"] == "tls").collect();
    let alpn: Vec<Vec<&str>> = tls
        .iter()
        .map(|t| {
            t["alpn_offered"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect()
        })
        .collect();
    assert!(
        alpn.contains(&vec!["h2", "http/1.1"]),
        "the page's connection: {alpn:?}"
    );
    assert!(
        alpn.contains(&vec!["http/1.1"]),
        "the WebSocket's own: {alpn:?}"
    );
    let upstream = recs
        .iter()
        .find(|r| r["server"] == "127.0.0.1:18219")
        .unwrap();
    assert!(codes(upstream).is_empty(), "{upstream}");
    let hops: Vec<_> = all.iter().filter(|r| r["type"] == "hop").collect();
    assert_eq!(hops.len(), 1, "{all:#?}");
    let conns = connections(&pcap, &extra);
    assert_eq!(conns.len(), 2);
    assert!(conns.iter().all(|c| c["ending"] == "clean"));
    // Here a TCP RST did end the browser's leg (nginx's, after its FIN, as tshark shows):
    // reset_after_close keeps TCP's words on an HTTP/1.1 WebSocket.
    assert!(rows.iter().any(|r| r.port == 18218 && r.tcp_rst));
    let leg = conns
        .iter()
        .find(|c| c["server"] == "127.0.0.1:18218")
        .unwrap();
    assert!(finding(leg, "reset_after_close")["message"]
        .as_str()
        .unwrap()
        .starts_with("TCP ended with an RST"));
    h2tls_golden(&pcap, &keys);
}

/// The same reload with `hard-stop-after 2s` and a client that keeps its WebSocket open and
/// idle (h2c-haproxy-goaway-hard-stop): HAProxy's graceful GOAWAY, then 2 s later (its log:
/// "performing a hard-stop") an empty END_STREAM and RST_STREAM CANCEL on the stream, and a
/// TCP RST on its upstream leg, as tshark shows. The h2 leg's teardown is named the
/// shutdown's deadline, citing the RST_STREAM, not an idle timeout (the silence before it was
/// no timer).
#[test]
fn a_hard_stop_after_a_graceful_goaway_is_the_shutdowns_deadline_not_an_idle_timeout() {
    let name = "h2c-haproxy-goaway-hard-stop.pcap";
    let pcap = sample(name);
    let rows = tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
    let (goaway, code, last) = server_goaway(&rows, 18209).expect("HAProxy's GOAWAY");
    assert_eq!((code, last), (0, (1 << 31) - 1));
    let reset = rows
        .iter()
        .find(|r| r.port == 18209 && r.frames.iter().any(|f| f.0 == 3 && f.1 == 1))
        .expect("HAProxy's RST_STREAM");
    assert_eq!(reset.rst_errors, [8]);
    let goaway_time = rows.iter().find(|r| r.packet == goaway).unwrap().time;
    assert!(
        (1.9..2.5).contains(&(reset.time - goaway_time)),
        "hard-stop-after 2s"
    );
    // HAProxy resets its upstream leg to hypercorn (from its own port, neither 18209 nor 18210).
    assert!(rows
        .iter()
        .any(|r| r.tcp_rst && r.port != 18209 && r.port != 18210));
    let log =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.proxy.log"))).unwrap();
    assert!(log.contains("performing a hard-stop"), "{log}");
    let conns = connections(&pcap, &[]);
    let h2 = conns.iter().find(|c| c["h2_stream_id"] == 1).unwrap();
    assert_eq!(h2["ending"], "rst", "{h2}");
    assert_eq!(h2["close"]["handshake_completed"], false);
    assert_eq!(codes(h2), ["connection_reset", "h2_goaway_graceful"]);
    let torn = finding(h2, "connection_reset");
    assert_eq!(torn["packets"][0].as_u64(), Some(reset.packet));
    let m = torn["message"].as_str().unwrap();
    assert!(
        m.starts_with("the server reset the HTTP/2 stream (RST_STREAM CANCEL) 2.0 s after the server's graceful GOAWAY")
            && m.contains("not an idle timeout"),
        "{m}"
    );
    let g = finding(h2, "h2_goaway_graceful");
    assert_eq!(g["packets"][0].as_u64(), Some(goaway));
    assert!(g["message"].as_str().unwrap().contains("it did not"), "{g}");
    // HAProxy's HTTP/1.1 leg to hypercorn: torn down by HAProxy in the same hard stop (0.1 ms
    // before the RST_STREAM, so its record is written first), named the proxy's shutdown from
    // the h2 leg's GOAWAY, not its idle timeout (it had none: the silence was the deadline's).
    let upstream = conns.iter().find(|c| c["handshake_id"] == 2).unwrap();
    assert_eq!(upstream["server"], "127.0.0.1:18210");
    assert_eq!(codes(upstream), ["connection_reset"], "{upstream}");
    let torn = finding(upstream, "connection_reset");
    assert_eq!(torn["packets"][0].as_u64(), Some(goaway));
    let m = torn["message"].as_str().unwrap();
    assert!(
        m.starts_with("the client (the proxy at 127.0.0.1:18209) tore the connection down (RST) 2.0 s after the proxy's graceful GOAWAY on the client's HTTP/2 connection (#1, stream 1)")
            && m.contains("not an idle timeout"),
        "{m}"
    );
    // The record order is as before: the upstream leg first, as it ended first.
    let ids: Vec<u64> = conns
        .iter()
        .map(|c| c["handshake_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2, 1]);
    // The line output says the same (the report: tests/it/golden).
    let lines = stdout(&wssniff(&["-r", pcap.to_str().unwrap()]));
    assert!(!lines.contains("idle_timeout"), "{lines}");
    assert!(
        lines.contains("connection_reset: the client (the proxy at 127.0.0.1:18209) tore"),
        "{lines}"
    );
}

/// An error GOAWAY with a WebSocket open (h2c-haproxy-goaway-protocol-error): after the
/// first echo the client sends a WINDOW_UPDATE of 0 on stream 0 (a connection error, RFC 9113
/// §6.9); HAProxy answers GOAWAY PROTOCOL_ERROR (last stream 1), RST_STREAM NO_ERROR on the
/// WebSocket stream and the end of both legs, as tshark shows and the client logged. The
/// stream's record names the GOAWAY as the cause and its teardown as the GOAWAY's, not an
/// idle timeout of the proxy (it was `idle_timeout`, "likely its idle timeout", 1.5 ms after
/// the last frame); the upstream leg is named the proxy's connection error.
#[test]
fn an_error_goaway_from_the_proxy_ends_the_websocket_on_both_legs_not_an_idle_timeout() {
    let name = "h2c-haproxy-goaway-protocol-error.pcap";
    let pcap = sample(name);
    let rows = tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
    let (goaway, code, last) = server_goaway(&rows, 18226).expect("HAProxy's GOAWAY");
    assert_eq!((code, last), (1, 1), "GOAWAY PROTOCOL_ERROR, last stream 1");
    // The client's WINDOW_UPDATE (type 8) on stream 0 just before it.
    assert!(rows.iter().any(|r| r.port != 18226
        && r.packet < goaway
        && r.frames.iter().any(|f| f.0 == 8 && f.1 == 0)));
    let reset = rows
        .iter()
        .find(|r| r.port == 18226 && r.frames.iter().any(|f| f.0 == 3 && f.1 == 1))
        .expect("HAProxy's RST_STREAM");
    assert_eq!(reset.rst_errors, [0]);
    let log = std::fs::read_to_string(root().join(format!("samples/expected/{name}.client.log")))
        .unwrap();
    assert!(
        log.contains("GOAWAY: error 1 (PROTOCOL_ERROR), last stream 1"),
        "{log}"
    );
    let conns = connections(&pcap, &[]);
    let h2 = conns.iter().find(|c| c["h2_stream_id"] == 1).unwrap();
    assert_eq!(h2["ending"], "rst", "{h2}");
    assert_eq!(
        codes(h2),
        ["h2_goaway_closed_websocket", "connection_reset"],
        "{h2}"
    );
    let g = finding(h2, "h2_goaway_closed_websocket");
    assert_eq!(g["packets"][0].as_u64(), Some(goaway));
    assert!(g["message"].as_str().unwrap().starts_with(
        "the server ended the HTTP/2 connection with GOAWAY PROTOCOL_ERROR (last stream 1)"
    ));
    let torn = finding(h2, "connection_reset");
    assert_eq!(torn["packets"][0].as_u64(), Some(reset.packet));
    let m = torn["message"].as_str().unwrap();
    assert!(
        m.starts_with("the server reset the HTTP/2 stream (RST_STREAM NO_ERROR)")
            && m.contains("after the server's GOAWAY PROTOCOL_ERROR, with no close frame: the GOAWAY ended the WebSocket;"),
        "{m}"
    );
    let upstream = conns.iter().find(|c| c["handshake_id"] == 2).unwrap();
    assert_eq!(upstream["server"], "127.0.0.1:18227");
    assert_eq!(codes(upstream), ["connection_reset"], "{upstream}");
    let m = finding(upstream, "connection_reset")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        m.contains("as the proxy ended the client's HTTP/2 connection (#1, stream 1) with GOAWAY PROTOCOL_ERROR"),
        "{m}"
    );
    let lines = stdout(&wssniff(&["-r", pcap.to_str().unwrap()]));
    assert!(!lines.contains("idle_timeout"), "{lines}");
}

/// The rapid reset and the PING flood of the node captures, at hypercorn 0.18 (python h2 and
/// priority, no flood limits of their own), whose reactions differ from nghttp2's: under the
/// rapid reset its priority tree refuses the 1001st open stream (its log:
/// TooManyStreamsError), the connection's task dies and hypercorn closes TCP with a FIN, with
/// no GOAWAY; the client's Close (END_STREAM) and GOAWAY NO_ERROR (last stream 0) come after
/// that FIN. The PING flood is answered in full and the WebSocket closes cleanly after it.
/// wssniff names the floods by the client's frames either way; the rapid-reset record ends
/// where TCP did (the server's FIN, not the client's later END_STREAM), and the client's
/// GOAWAY, sent after the teardown and counting only server streams, is no finding (it was
/// `h2_goaway_closed_websocket`, an error blaming the client).
#[test]
fn floods_at_hypercorn_are_named_and_its_own_reactions_are_what_the_record_shows() {
    const PORT: u16 = 18220;
    let name = "h2c-hypercorn-rapid-reset.pcap";
    let rows = tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
    let server_log =
        std::fs::read_to_string(root().join(format!("samples/expected/{name}.server.log")))
            .unwrap();
    assert!(
        server_log.contains("TooManyStreamsError: Refusing to insert 1001 streams"),
        "{server_log}"
    );
    let resets: usize = rows
        .iter()
        .filter(|r| r.port != PORT)
        .map(|r| r.rst_errors.len())
        .sum();
    assert_eq!(resets, 2000, "the client's RST_STREAM frames");
    assert!(
        server_goaway(&rows, PORT).is_none(),
        "hypercorn sent no GOAWAY"
    );
    let client_goaway = rows
        .iter()
        .find(|r| r.port != PORT && r.goaway.is_some())
        .expect("the client's GOAWAY");
    assert_eq!(client_goaway.goaway, Some((0, 0)));
    let conns = connections(&sample(name), &[]);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["h2_stream_id"], 1);
    assert_eq!(
        c["tcp_end"], "server_fin",
        "hypercorn's FIN came first: {c}"
    );
    assert!(
        c["close"]["client"]["packet"].as_u64() < Some(client_goaway.packet),
        "the client's Close, then its GOAWAY"
    );
    let found = codes(c);
    assert!(found.contains(&"h2_rapid_reset".to_owned()), "{found:?}");
    assert!(
        !found.iter().any(|c| c.starts_with("h2_goaway")),
        "{found:?}"
    );
    let f = finding(c, "h2_rapid_reset");
    let cited = f["packets"][0].as_u64().unwrap();
    assert!(
        rows.iter()
            .any(|r| r.packet == cited && r.port != PORT && !r.rst_errors.is_empty()),
        "{f}"
    );

    let name = "h2c-hypercorn-ping-flood.pcap";
    let rows = tshark_frames(&root().join(format!("samples/expected/{name}.tshark-frames.tsv")));
    let count = |from_server: bool, ack: bool| -> usize {
        rows.iter()
            .filter(|r| (r.port == PORT) == from_server)
            .flat_map(|r| &r.frames)
            .filter(|f| f.0 == 6 && (f.2 & 1 == 1) == ack)
            .count()
    };
    assert_eq!(
        (count(false, false), count(true, true)),
        (2000, 2000),
        "every PING answered"
    );
    let conns = connections(&sample(name), &[]);
    let c = &conns[0];
    assert_eq!(c["ending"], "clean", "{c}");
    assert_eq!(codes(c), ["h2_flood"]);
}
