//! The `text/event-stream` format, incrementally: bytes in as they arrive, events out
//! when their blank line has been seen. Follows the WHATWG parsing rules that matter
//! here — `\n`, `\r\n` and `\r` line ends (also split across chunks), `:` comments,
//! several `data:` lines joined with `\n`, one optional space after the colon — and
//! ignores fields it does not know. No I/O.

/// Longest line accepted; a longer one means the peer is not an event stream.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent, per the spec).
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` belongs to that line end.
    after_cr: bool,
    pending: SseEvent,
    has_data: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an event-stream line is longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        for &byte in bytes {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(LineTooLong);
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.pending);
            return std::mem::take(&mut self.has_data).then_some(event);
        }
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.pending.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse_in_chunks(text: &str, size: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        text.as_bytes()
            .chunks(size)
            .flat_map(|chunk| parser.feed(chunk).unwrap())
            .collect()
    }

    #[test]
    fn frames_comments_and_line_ends() {
        let text = ": keep-alive\n\nid: 7\nevent: stage_changed\ndata: {\"seq\":7}\n\n\
                    id: 8\r\nevent: alias_set\r\ndata:a\r\ndata: b\r\n\r\n\
                    id: 9\revent: x\rdata: c\r\r: tail comment\n";
        for size in [1, 2, 3, 7, 1000] {
            let events = parse_in_chunks(text, size);
            assert_eq!(events.len(), 3, "chunk size {size}: {events:?}");
            assert_eq!(events[0].id.as_deref(), Some("7"));
            assert_eq!(events[0].event.as_deref(), Some("stage_changed"));
            assert_eq!(events[0].data, "{\"seq\":7}");
            assert_eq!(events[1].id.as_deref(), Some("8"));
            assert_eq!(events[1].data, "a\nb");
            assert_eq!(events[2].id.as_deref(), Some("9"));
            assert_eq!(events[2].data, "c");
        }
    }

    #[test]
    fn no_data_no_event_and_unknown_fields_are_ignored() {
        let events = parse_in_chunks("id: 3\n\nretry: 10\nfoo: bar\ndata\n\n", 4);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, None);
        assert_eq!(events[0].data, "");
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut parser = SseParser::default();
        let big = vec![b'x'; MAX_LINE + 1];
        assert_eq!(parser.feed(&big), Err(LineTooLong));
    }

    /// Frames a server writes read back in any chunking; any bytes give the same events
    /// however they are cut.
    mod properties {
        use super::super::{SseEvent, SseParser};
        use proptest::prelude::*;

        /// An event as a server writes it, with `ending` after every line.
        fn frame(event: &SseEvent, ending: &str) -> String {
            let mut text = String::new();
            if let Some(id) = &event.id {
                text += &format!("id: {id}{ending}");
            }
            if let Some(kind) = &event.event {
                text += &format!("event: {kind}{ending}");
            }
            for line in event.data.split('\n') {
                text += &format!("data: {line}{ending}");
            }
            text + ending
        }

        fn events() -> impl Strategy<Value = Vec<SseEvent>> {
            let field = "[^\r\n\0]{0,12}";
            prop::collection::vec(
                (
                    prop::option::of(field),
                    prop::option::of(field),
                    "[^\r\0]{0,40}",
                )
                    .prop_map(|(id, event, data)| SseEvent { id, event, data }),
                0..6,
            )
        }

        /// Feeds `bytes` in pieces of the given sizes (cycled); every event completed.
        fn feed_in(bytes: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
            let mut parser = SseParser::default();
            let mut out = Vec::new();
            let mut rest = bytes;
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*size).clamp(1, rest.len()));
                out.extend(parser.feed(now).unwrap());
                rest = later;
            }
            out
        }

        proptest! {
            #[test]
            fn frames_written_by_a_server_read_back_in_any_chunking(
                sent in events(),
                ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
                sizes in prop::collection::vec(1usize..9, 1..5),
            ) {
                let wire: String = sent.iter().map(|e| frame(e, ending)).collect();
                prop_assert_eq!(feed_in(wire.as_bytes(), &sizes), sent);
            }

            #[test]
            fn any_bytes_in_any_chunking_give_the_same_events(
                bytes in prop::collection::vec(any::<u8>(), 0..400),
                sizes in prop::collection::vec(1usize..17, 1..5),
            ) {
                prop_assert_eq!(feed_in(&bytes, &sizes), feed_in(&bytes, &[bytes.len().max(1)]));
            }
        }
    }
}
