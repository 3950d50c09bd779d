//! One published event, encoded once: the [`EventMessage`] JSON (a single line) with the
//! fields every transport keys on (`seq`, `kind`, `model`), and its server-sent-event
//! frame. SSE, NATS and Kafka carry the same JSON bytes.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use capstan_client::types::{EventKind, EventMessage};
use capstan_client::ModelName;

/// An event ready to send anywhere.
#[derive(Debug, Clone)]
pub struct OutboundEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub model: ModelName,
    pub created_at: DateTime<Utc>,
    /// The `EventMessage` as one line of JSON.
    pub json: Bytes,
}

impl OutboundEvent {
    pub fn encode(message: &EventMessage) -> Result<Self, serde_json::Error> {
        Ok(Self {
            seq: message.event.seq,
            kind: message.event.kind,
            model: message.event.model.clone(),
            created_at: message.event.created_at,
            json: Bytes::from(serde_json::to_vec(message)?),
        })
    }

    /// `id: <seq>\nevent: <kind>\ndata: <json>\n\n`. JSON escapes line breaks inside
    /// strings, so the data is always one line.
    pub fn sse_frame(&self) -> Bytes {
        let seq = self.seq.to_string();
        let kind = self.kind.as_str();
        let mut frame = BytesMut::with_capacity(self.json.len() + seq.len() + kind.len() + 24);
        frame.put_slice(b"id: ");
        frame.put_slice(seq.as_bytes());
        frame.put_slice(b"\nevent: ");
        frame.put_slice(kind.as_bytes());
        frame.put_slice(b"\ndata: ");
        frame.put_slice(&self.json);
        frame.put_slice(b"\n\n");
        frame.freeze()
    }
}

/// The comment an idle stream sends so proxies and clients see it is alive.
pub const SSE_KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use capstan_client::types::Event;

    #[test]
    fn sse_frame_is_id_event_and_one_data_line() {
        let message = EventMessage {
            event: Event {
                seq: 42,
                kind: EventKind::StageChanged,
                model: ModelName::parse("fraud.v2").unwrap(),
                version: Some(3),
                stage: None,
                from_version: None,
                to_version: Some(3),
                reason: Some("line\nbreak".into()),
                alias: None,
                digest: None,
                job: None,
                deployment: None,
                from_state: None,
                to_state: None,
                request: None,
                previous_name: None,
                actor: None,
                created_at: Utc::now(),
            },
            refs: vec!["production".into(), "3".into()],
            artifact: None,
            state: Default::default(),
        };
        let frame = OutboundEvent::encode(&message).unwrap().sse_frame();
        let text = std::str::from_utf8(&frame).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "id: 42");
        assert_eq!(lines[1], "event: stage_changed");
        assert!(lines[2].starts_with("data: {"));
        assert_eq!(&lines[3..], ["", ""]);
        let data: serde_json::Value = serde_json::from_str(&lines[2][6..]).unwrap();
        assert_eq!(data["seq"], 42);
        assert_eq!(data["refs"], serde_json::json!(["production", "3"]));
    }
}
