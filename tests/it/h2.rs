//! HTTP/2 samples: the header fields wssniff decodes (HPACK) against tshark's HTTP/2
//! dissection of the same captures, and what each h2c sample must show.
//!
//! `samples/generate-h2.sh` writes `samples/expected/NAME.tshark.tsv` with tshark's view of
//! every HEADERS frame (packet, stream, names and values joined by commas, as tshark prints
//! them); each row must be one request or response head of wssniff's records, field for
//! field, carried by that packet on that stream.

use crate::util::{codes, connections, records, root, sample};

fn tshark_files() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("samples/expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tshark.tsv"))
        .collect();
    v.sort();
    v
}

#[test]
fn decoded_headers_match_tshark() {
    let files = tshark_files();
    assert!(files.len() >= 2, "the h2 samples' tshark dissections");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy();
        let pcap = name.trim_end_matches(".tshark.tsv");
        let recs = records(&sample(pcap), &[]);
        let mut heads = Vec::new();
        for r in &recs {
            let stream = r["h2"]["stream_id"].as_u64().unwrap();
            for m in [&r["request"], &r["response"]] {
                if m.is_object() {
                    heads.push((stream, m));
                }
            }
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rows = 0;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (packet, stream): (u64, u64) = (cols[0].parse().unwrap(), cols[1].parse().unwrap());
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
    }
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
    // Firefox's ending: END_STREAM on the DATA frame carrying the client's Close.
    assert_eq!(conns[0]["tcp_end"], "client_fin");
    // Chrome's: RST_STREAM CANCEL after both Close frames.
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
