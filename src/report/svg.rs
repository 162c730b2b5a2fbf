//! Hand-written inline SVG charts (no scripts, no external fonts or images): a timeline of
//! handshakes coloured by verdict, a latency histogram and a status-code bar chart.
//!
//! Every chart has a `<title>`, axis titles and text labels, so it reads without colour and
//! in print; `viewBox` plus `width="100%"` makes it scale on a phone. Bar labels are laid out
//! from an estimate of their width (one line, two lines, or turned) so that none touches
//! another, and the latency histogram draws only the ranges that hold a handshake;
//! `tests/it/report.rs` measures the drawn text in headless Chromium. Labels that come from
//! the capture go through [`crate::present::escape_html`].

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
    let h = top + row_h * 4.0 + 48.0;
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
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#888"/><text x="{left}" y="{axis_y}" font-size="12">+0 ms</text><text x="{}" y="{axis_y}" font-size="12" text-anchor="end">+{}</text><text x="{}" y="{}" font-size="12" text-anchor="middle">time since the first handshake</text></svg>"##,
        top + row_h * 4.0,
        W - right,
        top + row_h * 4.0,
        W - right,
        esc(&human_ms(t.span_ms)),
        left + (W - left - right) / 2.0,
        axis_y + 18.0
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

/// Width of `text` at `font_size` in SVG units, estimated on the wide side (0.62 em per
/// character; system sans-serif fonts average 0.5–0.56 em), so labels laid out with it do not
/// touch when drawn.
#[allow(clippy::cast_precision_loss)]
fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().count() as f64 * 0.62 * font_size
}

/// A label split in two lines at its range dash (`0.1 ms–` / `0.3 ms`) or its last space.
fn two_lines(label: &str) -> Option<(String, String)> {
    if let Some(i) = label.find('–') {
        let cut = i + '–'.len_utf8();
        return Some((label.get(..cut)?.to_owned(), label.get(cut..)?.to_owned()));
    }
    let i = label.rfind(' ')?;
    Some((label.get(..i)?.to_owned(), label.get(i + 1..)?.to_owned()))
}

/// How the x labels of a bar chart are set so that none touches another.
#[derive(Debug, PartialEq)]
enum LabelLayout {
    /// One line each, horizontal.
    Flat,
    /// Two lines each, horizontal.
    Split,
    /// One line each, turned 40° (for many bars with long labels).
    Turned,
}

const LABEL_FONT: f64 = 12.0;
/// Room between two labels.
const LABEL_GAP: f64 = 6.0;
/// The angle turned labels are drawn at (degrees) and its sine and cosine.
const TURN_DEG: f64 = 40.0;
const TURN_SIN: f64 = 0.642_787_609_686_539_3;
const TURN_COS: f64 = 0.766_044_443_118_978;

fn label_layout(labels: &[&str], slot: f64) -> LabelLayout {
    let widest = |it: &mut dyn Iterator<Item = f64>| it.fold(0.0_f64, f64::max);
    if widest(&mut labels.iter().map(|l| text_width(l, LABEL_FONT))) + LABEL_GAP <= slot {
        return LabelLayout::Flat;
    }
    let split = labels.iter().map(|l| match two_lines(l) {
        Some((a, b)) => text_width(&a, LABEL_FONT).max(text_width(&b, LABEL_FONT)),
        None => text_width(l, LABEL_FONT),
    });
    if widest(&mut split.into_iter()) + LABEL_GAP <= slot {
        LabelLayout::Split
    } else {
        LabelLayout::Turned
    }
}

/// Vertical bars with counts on top, each bar's label underneath laid out so that no two
/// labels touch (one line, two lines, or turned), a y-axis title and an x-axis title.
fn bars(title: &str, x_title: &str, items: &[(String, u64, &'static str)]) -> String {
    let (top, plot_h, axis_left, right) = (22.0, 140.0, 40.0, 10.0);
    let labels: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
    #[allow(clippy::cast_precision_loss)]
    let n = items.len().max(1) as f64;
    let mut left = axis_left;
    let mut slot = (W - left - right) / n;
    let layout = label_layout(&labels, slot);
    let widest = labels
        .iter()
        .map(|l| text_width(l, LABEL_FONT))
        .fold(0.0_f64, f64::max);
    if layout == LabelLayout::Turned {
        // The first turned label reaches left of its bar: make room for it.
        let reach = labels
            .first()
            .map_or(0.0, |l| text_width(l, LABEL_FONT) * TURN_COS);
        left = left.max(reach - slot / 2.0 + 4.0);
        slot = (W - left - right) / n;
    }
    let label_h = match layout {
        LabelLayout::Flat => LABEL_FONT * 1.6,
        LabelLayout::Split => LABEL_FONT * 2.8,
        LabelLayout::Turned => widest * TURN_SIN + LABEL_FONT * 1.6,
    };
    let base = top + plot_h;
    let x_title_y = base + label_h + 16.0;
    let h = x_title_y + 8.0;
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {W} {h:.0}" width="100%"><title>{}</title>"#,
        esc(title)
    );
    // Axes and their titles.
    let _ = write!(
        s,
        r##"<line x1="{left:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#888"/><text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">handshakes</text><text x="{:.1}" y="{x_title_y:.1}" font-size="12" text-anchor="middle">{}</text>"##,
        W - right,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        left + (W - left - right) / 2.0,
        esc(x_title)
    );
    for (i, (label, count, colour)) in items.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let bar_h = plot_h * (*count as f64) / (max as f64);
        #[allow(clippy::cast_precision_loss)]
        let x = left + slot * i as f64;
        let mid = x + slot / 2.0;
        let y = base - bar_h;
        // Wide enough to compare, never a slab: a few bars keep the width of many.
        let bar_w = (slot * 0.7).min(64.0);
        let count_text = count.to_string();
        let count_font = (slot / (text_width(&count_text, 1.0) + 0.5)).clamp(6.0, 11.0);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{bar_h:.1}" fill="{colour}"><title>{}: {count}</title></rect><text x="{mid:.1}" y="{:.1}" font-size="{count_font:.1}" text-anchor="middle">{count}</text>"#,
            mid - bar_w / 2.0,
            bar_w,
            esc(label),
            y - 4.0,
        );
        let line1 = base + LABEL_FONT * 1.3;
        match (&layout, two_lines(label)) {
            (LabelLayout::Split, Some((a, b))) => {
                let _ = write!(
                    s,
                    r#"<text x="{mid:.1}" y="{line1:.1}" font-size="{LABEL_FONT}" text-anchor="middle">{}<tspan x="{mid:.1}" dy="{:.1}">{}</tspan></text>"#,
                    esc(&a),
                    LABEL_FONT * 1.2,
                    esc(&b)
                );
            }
            (LabelLayout::Turned, _) => {
                let _ = write!(
                    s,
                    r#"<text x="{mid:.1}" y="{line1:.1}" font-size="{LABEL_FONT}" text-anchor="end" transform="rotate(-{TURN_DEG} {mid:.1} {line1:.1})">{}</text>"#,
                    esc(label)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r#"<text x="{mid:.1}" y="{line1:.1}" font-size="{LABEL_FONT}" text-anchor="middle">{}</text>"#,
                    esc(label)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The request-to-response latency histogram as an inline SVG bar chart.
#[must_use]
pub(crate) fn latency(buckets: &[LatencyBucket]) -> String {
    // Only the ranges that hold a handshake: a fixed set of empty bins pushes the few that
    // matter into slivers and their labels into each other.
    let items: Vec<(String, u64, &'static str)> = buckets
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| {
            let colour = if b.label == "no response" {
                "#6a1b9a"
            } else {
                "#1565c0"
            };
            (b.label.clone(), b.count, colour)
        })
        .collect();
    bars(
        "Handshake latency (request to response); only ranges with handshakes are drawn",
        "time from request to response",
        &items,
    )
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
    bars("Response status codes", "response status", &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_flat_then_split_then_turned_as_room_shrinks() {
        let labels = ["1 ms–3 ms", "3 ms–10 ms"];
        assert_eq!(label_layout(&labels, 200.0), LabelLayout::Flat);
        assert_eq!(label_layout(&labels, 60.0), LabelLayout::Split);
        assert_eq!(label_layout(&labels, 30.0), LabelLayout::Turned);
        assert_eq!(
            two_lines("0.1 ms–0.3 ms"),
            Some(("0.1 ms–".to_owned(), "0.3 ms".to_owned()))
        );
        assert_eq!(
            two_lines("no response"),
            Some(("no".to_owned(), "response".to_owned()))
        );
        assert_eq!(two_lines("101"), None);
    }

    #[test]
    fn the_histogram_draws_only_ranges_with_handshakes_and_titles_its_axes() {
        let bucket = |label: &str, count| LatencyBucket {
            label: label.to_owned(),
            count,
        };
        let svg = latency(&[
            bucket("< 0.1 ms", 0),
            bucket("1 ms–3 ms", 4),
            bucket("≥ 10 s", 0),
        ]);
        assert!(svg.contains(">1 ms–3 ms</text>"), "{svg}");
        assert!(!svg.contains("0.1 ms") && !svg.contains("10 s"), "{svg}");
        assert!(svg.contains(">handshakes</text>"), "{svg}");
        assert!(
            svg.contains(">time from request to response</text>"),
            "{svg}"
        );
    }
}
