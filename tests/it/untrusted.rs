//! Untrusted text from the wire (issue 7): escape sequences, C1 controls, bidi overrides,
//! invalid UTF-8 and markup in headers and close reasons never reach a terminal, a report or
//! the TUI raw.

use wssniff::engine::EngineConfig;

use crate::traffic::{packet, pcap_header, pcap_record, tmpdir};
use crate::util::*;

/// A 101 handshake whose text carries what httparse lets through and a terminal or browser
/// could act on: C1 controls (U+009B is CSI on many terminals), bidi overrides, invalid UTF-8,
/// HTML; then a close frame whose reason (free bytes) holds raw ESC sequences and markup.
fn evil_capture() -> Vec<u8> {
    let req = b"GET /\xc2\x9b2J/\xe2\x80\xaeevil HTTP/1.1\r\nHost: <script>alert(1)</script>\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://\xff\xfe\xc2\x9b31m.example\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: a\xc2\x9b5mb, \"><img src=x onerror=alert(2)>\r\n\r\n";
    let resp = b"HTTP/1.1 101 \xc2\x9b1mSwitching <b>Protocols</b>\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nServer: evil\xe2\x80\xae\xc2\x9b8m\r\nSec-WebSocket-Protocol: <i>x</i>\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let reason = b"\x1b[2J\x1b]0;pwned\x07<script>alert(3)</script>\x08\x08";
    let mut close = vec![0x88, 2 + reason.len() as u8, 0x03, 0xe8];
    close.extend_from_slice(reason);
    // The client echoes the close (masked, with a zero key): it took the switch, so the
    // connection gets its own record, close reason included.
    let echo = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
    let seq_c = 1001 + req.len() as u32;
    let seq_s = 5001 + resp.len() as u32;
    let pkts = [
        packet(true, 40_000, 1000, "S", b""),
        packet(false, 40_000, 5000, "SA", b""),
        packet(true, 40_000, 1001, "A", req),
        packet(false, 40_000, 5001, "A", resp),
        packet(false, 40_000, seq_s, "A", &close),
        packet(true, 40_000, seq_c, "A", &echo),
        packet(false, 40_000, seq_s + close.len() as u32, "FA", b""),
        packet(true, 40_000, seq_c + echo.len() as u32, "FA", b""),
    ];
    let mut bytes = pcap_header(65_535);
    for (i, p) in pkts.iter().enumerate() {
        bytes.extend(pcap_record(
            1_700_000_000 + i as u32,
            p,
            p.len() as u32,
            p.len() as u32,
        ));
    }
    bytes
}

/// Removes the SGR colour sequences wssniff itself writes (`ESC [ digits;… m`).
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let n = tail
            .find(|c: char| !c.is_ascii_digit() && c != ';')
            .unwrap_or(tail.len());
        if tail[n..].starts_with('m') {
            rest = &tail[n + 1..];
        } else {
            out.push_str("\x1b[");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn escapes_and_markup_from_the_wire_never_reach_the_terminal_or_browser() {
    let dir = tmpdir("evil");
    let p = dir.join("evil.pcap");
    std::fs::write(&p, evil_capture()).unwrap();
    let html = dir.join("r.html");
    let md = dir.join("r.md");
    for extra in [
        &["-v", "--color", "never"][..],
        &["-v", "--color", "always"][..],
    ] {
        let mut args = vec!["-r", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = wssniff(&args);
        let text = stdout(&out);
        if let Ok(dump) = std::env::var("WSSNIFF_DUMP") {
            std::fs::write(dump, &text).unwrap();
        }
        // The handshake and the connection end are both printed, the text escaped visibly.
        assert!(text.contains("GET /\\x9b2J/\\u{202e}evil"), "{text:?}");
        assert!(
            text.contains("server 1000 \"\\x1b[2J\\x1b]0;pwned\\x07<script>"),
            "close reason escaped once: {text:?}"
        );
        // Nothing from the wire may emit ESC, BEL, BS or a C1 CSI; colour codes we emit
        // ourselves are SGR sequences only.
        let raw = strip_sgr(&text);
        for bad in ['\x1b', '\x07', '\x08', '\u{9b}'] {
            assert!(
                !raw.contains(bad),
                "{extra:?}: raw {bad:?} in output: {raw:?}"
            );
        }
        assert!(!stderr(&out).contains('\x1b'));
    }
    for r in [&html, &md] {
        let out = wssniff(&[
            "-r",
            p.to_str().unwrap(),
            "-q",
            "--report",
            r.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(r).unwrap();
        for bad in ['\x1b', '\x07', '\x08', '\u{9b}'] {
            assert!(!text.contains(bad), "{}: raw {bad:?}", r.display());
        }
    }
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("<script>alert"), "HTML-escaped");
    assert!(!text.contains("<img src=x"), "HTML-escaped");
    assert!(!text.contains("<script>alert"), "HTML-escaped");
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The TUI draws the same hostile capture: no cell of the table or of the detail view (at
/// two sizes, every page) holds a character the terminal would act on.
#[test]
fn escapes_from_the_wire_never_reach_the_tui() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use wssniff::tui::action::Action;
    use wssniff::tui::app::App;
    use wssniff::tui::feed::read_all;
    use wssniff::tui::render::{layout, render};

    let dir = tmpdir("tui-evil");
    let path = dir.join("evil.pcap");
    std::fs::write(&path, evil_capture()).unwrap();
    let mut app = App::new("file evil.pcap".to_owned(), None);
    for feed in read_all(path.to_str().unwrap(), EngineConfig::default()).unwrap() {
        app.apply_feed(feed);
    }
    let dangerous = |c: char| c.is_control() || ('\u{200b}'..='\u{206f}').contains(&c);
    let mut screens = 0;
    for (width, height) in [(80u16, 24u16), (160, 48)] {
        let mut draw = |app: &mut App| {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            app.set_table_rows(
                layout(ratatui::layout::Rect::new(0, 0, width, height)).table_rows(),
            );
            terminal.draw(|f| render(f, f.area(), app)).unwrap();
            let buffer = terminal.backend().buffer().clone();
            for cell in &buffer.content {
                assert!(
                    !cell.symbol().chars().any(dangerous),
                    "raw control in a TUI cell: {:?}",
                    cell.symbol()
                );
            }
            let text: String = buffer.content.iter().map(|c| c.symbol()).collect();
            screens += 1;
            text
        };
        assert!(
            draw(&mut app).contains("\\x9b"),
            "the C1 CSI is shown escaped"
        );
        app.update(Action::Open);
        for _ in 0..6 {
            draw(&mut app);
            app.update(Action::Page(1));
        }
        app.update(Action::Back);
    }
    assert!(screens >= 14);
    std::fs::remove_dir_all(&dir).ok();
}
