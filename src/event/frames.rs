//! The bounded per-connection frame log a [`ConnectionRecord`](super::ConnectionRecord)
//! carries: the first [`FRAME_LOG_HEAD`] and the last [`FRAME_LOG_TAIL`] WebSocket frames of
//! the connection (time, direction, opcode, length, flags, the start of the payload when the
//! session read it anyway, the close code and reason), and a count of the frames between them.
//!
//! The WebSocket session fills it as it walks the frames when the engine is asked to
//! (`ConnLimits::frame_log`, on for the TUI, the one output that shows it; the others pay
//! nothing); sinks render it and never decode frames again. Each entry is a fixed-size value (no allocation per frame), and the log's
//! bytes are part of the session's memory, so the budget (`--memcap`) counts them; a log the
//! budget has no room for stops growing and says so ([`FrameLog::refused`]).
//!
//! Not written to the JSON Lines output (docs/schema.md says so): the counters there already
//! tell the story in aggregate, and a per-frame list would multiply the size of every record.

use std::collections::VecDeque;

use crate::capture::Timestamp;

use super::Peer;

/// Frames kept from the start of a connection.
pub const FRAME_LOG_HEAD: usize = 64;
/// Frames kept from the end of a connection (the ones before the close are the evidence).
pub const FRAME_LOG_TAIL: usize = 64;
/// Payload bytes kept per frame for its preview (text, ping data, close reason).
pub const FRAME_PREVIEW_BYTES: usize = 48;

/// One WebSocket frame as the log keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedFrame {
    /// Capture time of the packet that carried the frame's first byte.
    pub ts: Timestamp,
    /// That packet's number.
    pub packet: u64,
    /// Who sent it.
    pub peer: Peer,
    /// The opcode's four bits (RFC 6455 §5.2).
    pub opcode: u8,
    /// FIN, RSV1, RSV2, RSV3 as in the frame's first byte (bits 7–4), MASK as bit 0.
    pub flags: u8,
    /// Payload length as sent (compressed when RSV1 says so).
    pub payload_len: u64,
    /// A close frame's status code, when it had one.
    pub close_code: Option<u16>,
    /// How many bytes of `preview` are used.
    preview_len: u8,
    /// The start of the payload as the session read it (unmasked, inflated), or a close
    /// frame's reason; empty when the payload was skipped unread.
    preview: [u8; FRAME_PREVIEW_BYTES],
}

impl LoggedFrame {
    /// A frame with no preview yet.
    #[must_use]
    pub fn new(ts: Timestamp, packet: u64, peer: Peer, opcode: u8, flags: u8, len: u64) -> Self {
        LoggedFrame {
            ts,
            packet,
            peer,
            opcode,
            flags,
            payload_len: len,
            close_code: None,
            preview_len: 0,
            preview: [0; FRAME_PREVIEW_BYTES],
        }
    }

    /// Appends payload bytes to the preview while it has room.
    pub fn push_preview(&mut self, bytes: &[u8]) {
        let used = usize::from(self.preview_len);
        let room = FRAME_PREVIEW_BYTES.saturating_sub(used);
        let take = bytes.len().min(room);
        if let (Some(dst), Some(src)) = (self.preview.get_mut(used..used + take), bytes.get(..take))
        {
            dst.copy_from_slice(src);
            self.preview_len = u8::try_from(used + take).unwrap_or(u8::MAX);
        }
    }

    /// Replaces the preview (the redactor masks credentials in it), cut to the cap.
    pub fn set_preview(&mut self, bytes: &[u8]) {
        self.preview_len = 0;
        self.push_preview(bytes);
    }

    /// The preview bytes (a prefix of the payload, or the close reason).
    #[must_use]
    pub fn preview(&self) -> &[u8] {
        self.preview
            .get(..usize::from(self.preview_len))
            .unwrap_or_default()
    }

    /// FIN is set.
    #[must_use]
    pub fn fin(&self) -> bool {
        self.flags & 0x80 != 0
    }

    /// RSV1 is set (compressed under permessage-deflate).
    #[must_use]
    pub fn rsv1(&self) -> bool {
        self.flags & 0x40 != 0
    }

    /// The flags in words, as Wireshark abbreviates them: `FIN RSV1 MASK`.
    #[must_use]
    pub fn flag_words(&self) -> String {
        let mut out = Vec::new();
        for (bit, name) in [
            (0x80, "FIN"),
            (0x40, "RSV1"),
            (0x20, "RSV2"),
            (0x10, "RSV3"),
            (0x01, "MASK"),
        ] {
            if self.flags & bit != 0 {
                out.push(name);
            }
        }
        out.join(" ")
    }

    /// The opcode's name (`text`, `binary`, `cont`, `close`, `ping`, `pong`, `0x3`…).
    #[must_use]
    pub fn opcode_name(&self) -> String {
        match self.opcode {
            0x0 => "cont".to_owned(),
            0x1 => "text".to_owned(),
            0x2 => "binary".to_owned(),
            0x8 => "close".to_owned(),
            0x9 => "ping".to_owned(),
            0xa => "pong".to_owned(),
            other => format!("0x{other:x}"),
        }
    }

    /// A close frame.
    #[must_use]
    pub fn is_close(&self) -> bool {
        self.opcode == 0x8
    }
}

/// The first and last frames of one connection, and how many fell between them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameLog {
    head: Vec<LoggedFrame>,
    tail: VecDeque<LoggedFrame>,
    /// Frames that fell between the head and the tail (not kept).
    pub omitted: u64,
    /// Payload bytes of those frames.
    pub omitted_bytes: u64,
    /// The memory budget had no room for the log to grow: frames after that point are
    /// counted in `omitted` even though the tail is not full.
    pub refused: bool,
}

impl FrameLog {
    /// Bytes the log holds (its allocations), for the session's memory accounting.
    #[must_use]
    pub fn memory(&self) -> usize {
        (self.head.capacity() + self.tail.capacity()) * std::mem::size_of::<LoggedFrame>()
    }

    /// Bytes the next [`FrameLog::push`] may allocate (0 when it fits in what is held).
    #[must_use]
    pub fn growth(&self) -> usize {
        let full = |len: usize, cap: usize| len == cap;
        let grows = if self.head.len() < FRAME_LOG_HEAD {
            full(self.head.len(), self.head.capacity())
        } else {
            self.tail.len() < FRAME_LOG_TAIL && full(self.tail.len(), self.tail.capacity())
        };
        if grows {
            // Vec and VecDeque double (at least 4 entries); bounded by the caps above.
            8 * std::mem::size_of::<LoggedFrame>()
        } else {
            0
        }
    }

    /// Adds the next frame: into the head while it has room, else into the tail, the
    /// oldest tail frame moving to `omitted`. With `room` false (the budget is full) a frame
    /// that would need new memory is only counted.
    pub fn push(&mut self, frame: LoggedFrame, room: bool) {
        if !room && self.growth() > 0 {
            self.refused = true;
            self.omit(&frame);
            return;
        }
        if self.head.len() < FRAME_LOG_HEAD {
            if self.head.capacity() == 0 {
                self.head.reserve_exact(8);
            } else if self.head.len() == self.head.capacity() {
                let more = self.head.capacity().min(FRAME_LOG_HEAD - self.head.len());
                self.head.reserve_exact(more);
            }
            self.head.push(frame);
            return;
        }
        if self.tail.len() == FRAME_LOG_TAIL {
            if let Some(old) = self.tail.pop_front() {
                self.omit(&old);
            }
        } else if self.tail.capacity() == 0 {
            self.tail.reserve_exact(8);
        } else if self.tail.len() == self.tail.capacity() {
            let more = self.tail.capacity().min(FRAME_LOG_TAIL - self.tail.len());
            self.tail.reserve_exact(more);
        }
        self.tail.push_back(frame);
    }

    /// Gives up every kept frame (a consumer out of room for logs): they are counted in
    /// `omitted` and `refused` is set, so the view says why the stream is not listed.
    pub fn forget_frames(&mut self) {
        let kept: Vec<LoggedFrame> = self.head.drain(..).chain(self.tail.drain(..)).collect();
        for f in &kept {
            self.omit(f);
        }
        self.head = Vec::new();
        self.tail = VecDeque::new();
        self.refused = true;
    }

    fn omit(&mut self, frame: &LoggedFrame) {
        self.omitted = self.omitted.saturating_add(1);
        self.omitted_bytes = self.omitted_bytes.saturating_add(frame.payload_len);
    }

    /// Every kept frame, mutable (the redactor masks previews in place).
    pub fn frames_mut(&mut self) -> impl Iterator<Item = &mut LoggedFrame> {
        self.head.iter_mut().chain(self.tail.iter_mut())
    }

    /// The frames kept from the start.
    #[must_use]
    pub fn head(&self) -> &[LoggedFrame] {
        &self.head
    }

    /// The frames kept from the end, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &LoggedFrame> {
        self.tail.iter()
    }

    /// Frames kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// No frame was logged.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.omitted == 0
    }

    /// Every kept frame in time order (ties: packet order, then the log's order), with the
    /// position of the omitted run: `Some(i)` means the frames not kept fell before the
    /// `i`-th frame returned.
    #[must_use]
    pub fn in_time_order(&self) -> (Vec<LoggedFrame>, Option<usize>) {
        let mut head = self.head.clone();
        head.sort_by_key(|f| (f.ts, f.packet));
        let mut tail: Vec<LoggedFrame> = self.tail.iter().copied().collect();
        tail.sort_by_key(|f| (f.ts, f.packet));
        let split = (self.omitted > 0).then_some(head.len());
        head.extend(tail);
        (head, split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u64) -> LoggedFrame {
        LoggedFrame::new(
            Timestamp(i64::try_from(n).unwrap()),
            n,
            Peer::Client,
            1,
            0x81,
            n,
        )
    }

    #[test]
    fn keeps_the_first_and_last_frames_and_counts_the_rest() {
        let mut log = FrameLog::default();
        let total = (FRAME_LOG_HEAD + FRAME_LOG_TAIL + 10) as u64;
        for n in 1..=total {
            log.push(frame(n), true);
        }
        assert_eq!(log.len(), FRAME_LOG_HEAD + FRAME_LOG_TAIL);
        assert_eq!(log.omitted, 10);
        let omitted: u64 = (FRAME_LOG_HEAD as u64 + 1..=FRAME_LOG_HEAD as u64 + 10).sum();
        assert_eq!(log.omitted_bytes, omitted);
        let (frames, split) = log.in_time_order();
        assert_eq!(split, Some(FRAME_LOG_HEAD));
        assert_eq!(frames.first().unwrap().packet, 1);
        assert_eq!(frames.last().unwrap().packet, total);
        assert_eq!(frames[FRAME_LOG_HEAD].packet, FRAME_LOG_HEAD as u64 + 11);
        // Bounded: the allocations never exceed the two caps.
        assert!(log.memory() <= (FRAME_LOG_HEAD + FRAME_LOG_TAIL) * size_of::<LoggedFrame>());
    }

    #[test]
    fn a_full_budget_stops_growth_but_not_the_count() {
        let mut log = FrameLog::default();
        for n in 1..=8 {
            log.push(frame(n), true);
        }
        // Eight fit in the first allocation; the ninth would need more.
        log.push(frame(9), false);
        assert!(log.refused);
        assert_eq!((log.len(), log.omitted), (8, 1));
    }

    #[test]
    fn preview_is_capped_and_flags_read_as_words() {
        let mut f = frame(1);
        f.push_preview(&[b'a'; 40]);
        f.push_preview(&[b'b'; 40]);
        assert_eq!(f.preview().len(), FRAME_PREVIEW_BYTES);
        assert_eq!(f.preview()[FRAME_PREVIEW_BYTES - 1], b'b');
        f.flags = 0x81 | 0x40;
        assert_eq!(f.flag_words(), "FIN RSV1 MASK");
        assert_eq!(f.opcode_name(), "text");
    }
}
