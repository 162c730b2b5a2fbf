//! Hand-written inline SVG charts (no scripts, no external fonts or images): a timeline of
//! handshakes coloured by verdict, a latency histogram and a status-code bar chart.
//!
//! Every chart has a `<title>` and text labels, so it reads without colour and in print;
//! `viewBox` plus `width="100%"` makes it scale on a phone. Labels that come from the
//! capture go through [`crate::present::escape_html`].

use std::fmt::Write as _;

use super::model::{LatencyBucket, StatusCount, Timeline};
use crate::event::Verdict;
use crate::present::escape_html as esc;
use crate::present::VERDICTS_WORST_FIRST;

/// Fill colour per verdict (also used by the HTML legend).
#[must_use]
pub(crate) fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "#2e7d32",
        Verdict::Warning => "#ef6c00",
        Verdict::Failed => "#c62828",
        Verdict::Incomplete => "#6a1b9a",
    }
}

const W: f64 = 640.0;

/// Handshakes over time, one row per verdict, one tick per handshake.
#[must_use]
pub(crate) fn timeline(t: &Timeline) -> String {
    let rows = VERDICTS_WORST_FIRST;
    let (left, right, row_h, top) = (90.0, 20.0, 26.0, 10.0);
    let h = top + row_h * 4.0 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} {h}" width="100%"><title>Timeline of handshakes by verdict</title>"#
    );
    let span = if t.span_ms > 0.0 { t.span_ms } else { 1.0 };
    for (i, &verdict) in rows.iter().enumerate() {
        let v = verdict.as_str();
        #[allow(clippy::cast_precision_loss)]
        let y = top + row_h * i as f64;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="12">{v}</text><line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            left - 8.0,
            y + row_h / 2.0 + 4.0,
            y + row_h / 2.0,
            W - right,
            y + row_h / 2.0
        );
        for p in t.points.iter().filter(|p| p.verdict == verdict) {
            let x = if t.span_ms > 0.0 {
                left + (W - left - right) * (p.offset_ms / span)
            } else {
                left + (W - left - right) / 2.0
            };
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="3" height="{:.1}" fill="{}"><title>{v} at +{:.3} ms</title></rect>"#,
                x - 1.5,
                y + 4.0,
                row_h - 8.0,
                verdict_colour(verdict),
                p.offset_ms
            );
        }
    }
    let axis_y = top + row_h * 4.0 + 16.0;
    let _ = write!(
        s,
        r#"<text x="{left}" y="{axis_y}" font-size="11">+0 ms</text><text x="{}" y="{axis_y}" font-size="11" text-anchor="end">+{}</text></svg>"#,
        W - right,
        esc(&human_ms(t.span_ms))
    );
    s
}

fn human_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.3} s", ms / 1000.0)
    } else {
        format!("{ms:.3} ms")
    }
}

/// Vertical bars with labels underneath and counts on top.
fn bars(title: &str, items: &[(String, u64, &'static str)]) -> String {
    let (left, top, bottom, plot_h) = (10.0, 20.0, 40.0, 120.0);
    let h = top + plot_h + bottom;
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    #[allow(clippy::cast_precision_loss)]
    let slot = (W - 2.0 * left) / (items.len().max(1) as f64);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} {h}" width="100%"><title>{}</title>"#,
        esc(title)
    );
    for (i, (label, n, colour)) in items.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let bh = plot_h * (*n as f64) / (max as f64);
        #[allow(clippy::cast_precision_loss)]
        let x = left + slot * i as f64;
        let y = top + plot_h - bh;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{}: {n}</title></rect><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{n}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            x + slot * 0.15,
            slot * 0.7,
            esc(label),
            x + slot / 2.0,
            y - 4.0,
            x + slot / 2.0,
            top + plot_h + 16.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// The request-to-response latency histogram as an inline SVG bar chart.
#[must_use]
pub(crate) fn latency(buckets: &[LatencyBucket]) -> String {
    let items: Vec<(String, u64, &'static str)> = buckets
        .iter()
        .map(|b| {
            let colour = if b.label == "no response" {
                "#6a1b9a"
            } else {
                "#1565c0"
            };
            (b.label.clone(), b.count, colour)
        })
        .collect();
    bars("Handshake latency (request to response)", &items)
}

/// Handshakes per response status (and without one) as an inline SVG bar chart.
#[must_use]
pub(crate) fn statuses(statuses: &[StatusCount]) -> String {
    let items: Vec<(String, u64, &'static str)> = statuses
        .iter()
        .map(|s| {
            let colour = match s.status {
                Some(101) => verdict_colour(Verdict::Ok),
                Some(_) => verdict_colour(Verdict::Failed),
                None => verdict_colour(Verdict::Incomplete),
            };
            (s.label.clone(), s.count, colour)
        })
        .collect();
    bars("Response status codes", &items)
}
