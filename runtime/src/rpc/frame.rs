//! The RPC wire format, byte for byte as `docs/protocol.md` specifies it.
//!
//! Every integer is big-endian. A frame is `length: u32` (the bytes after it), `kind: u8`,
//! `flags: u8` (0), `call: u32`, then a body that depends on the kind. Strings are `len: u16`
//! then UTF-8. Decoding never panics: a short buffer is "wait for more", anything else
//! malformed is a [`FrameError`].

use bytes::{Buf as _, BufMut, Bytes, BytesMut};

/// The first four bytes of a connection, both ways.
pub const MAGIC: [u8; 4] = *b"SVCG";
/// The protocol version this runtime speaks.
pub const VERSION: u8 = 1;
/// The codec byte for `MessagePack` with named fields.
pub const CODEC_MSGPACK: u8 = 1;
/// The handshake: magic, version, codec, two reserved zero bytes.
pub const HANDSHAKE: [u8; 8] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, CODEC_MSGPACK, 0, 0];
/// The bytes after the length field that every frame has: kind, flags, call.
const FIXED: usize = 6;

/// A frame's kind byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → server: call a method.
    Request = 1,
    /// Server → client: the value (or the acknowledgement) of a call.
    Reply = 2,
    /// Server → client: the call failed; the body is a problem document.
    Error = 3,
    /// Server → client: one item of a stream.
    StreamItem = 4,
    /// Server → client: the stream is complete.
    StreamEnd = 5,
    /// Client → server: stop working on a call.
    Cancel = 6,
    /// Either way: are you there?
    Ping = 7,
    /// Either way: yes.
    Pong = 8,
    /// Either way: no new calls on this connection; calls up to `last` are finished.
    GoAway = 9,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Request,
            2 => Kind::Reply,
            3 => Kind::Error,
            4 => Kind::StreamItem,
            5 => Kind::StreamEnd,
            6 => Kind::Cancel,
            7 => Kind::Ping,
            8 => Kind::Pong,
            9 => Kind::GoAway,
            _ => return None,
        })
    }
}

/// What a request carries besides its payload: where it goes and its Context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// `package.Service`.
    pub service: String,
    /// The method's name.
    pub method: String,
    /// The correlation id.
    pub correlation_id: String,
    /// W3C `traceparent`; empty for none.
    pub traceparent: String,
    /// Milliseconds left; 0 for no deadline.
    pub deadline_ms: u32,
    /// Caller metadata.
    pub metadata: Vec<(String, String)>,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A call.
    Request {
        /// The call id, chosen by the client, unique among its calls in flight.
        call: u32,
        /// Target and Context.
        head: RequestHead,
        /// The encoded arguments.
        payload: Bytes,
    },
    /// A call's value (empty for methods without one, and for accepted oneway calls).
    Reply {
        /// The call.
        call: u32,
        /// The encoded value.
        payload: Bytes,
    },
    /// A call's failure: an encoded RFC 9457 problem document.
    Error {
        /// The call.
        call: u32,
        /// The encoded problem.
        problem: Bytes,
    },
    /// A stream item.
    StreamItem {
        /// The call.
        call: u32,
        /// The encoded item.
        payload: Bytes,
    },
    /// The end of a stream.
    StreamEnd {
        /// The call.
        call: u32,
    },
    /// Stop a call.
    Cancel {
        /// The call.
        call: u32,
    },
    /// A keepalive probe.
    Ping {
        /// Echoed by the pong.
        nonce: u32,
    },
    /// The answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u32,
    },
    /// No new calls on this connection.
    GoAway {
        /// The last call id the sender will answer (server) or sent (client).
        last: u32,
        /// Why, for logs.
        reason: String,
    },
}

/// A frame that cannot be read: the connection is closed after a `GoAway` naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Longer than the limit.
    TooLarge {
        /// Its declared length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// Shorter than its kind needs, or with bytes left over.
    Malformed(&'static str),
    /// A kind byte we do not know.
    UnknownKind(u8),
    /// A string that is not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { length, limit } => {
                write!(f, "a frame of {length} bytes exceeds the limit of {limit}")
            }
            FrameError::Malformed(what) => write!(f, "malformed frame: {what}"),
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::NotUtf8 => f.write_str("a string in a frame is not UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

fn put_str(out: &mut impl BufMut, s: &str) {
    // Strings longer than u16::MAX are cut (only metadata could be; it is checked on entry).
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.put_u16(u16::try_from(bytes.len()).unwrap_or(u16::MAX));
    out.put_slice(bytes);
}

/// The request head after the frame header: four strings, the deadline, the metadata (at most
/// `u16::MAX` pairs; longer strings are cut, see `put_str`).
fn put_request_head(out: &mut impl BufMut, strings: [&str; 4], deadline_ms: u32, metadata: &[(&str, &str)]) {
    for s in strings {
        put_str(out, s);
    }
    out.put_u32(deadline_ms);
    let metadata = &metadata[..metadata.len().min(usize::from(u16::MAX))];
    out.put_u16(u16::try_from(metadata.len()).unwrap_or(u16::MAX));
    for (key, value) in metadata {
        put_str(out, key);
        put_str(out, value);
    }
}

fn get_str(body: &mut Bytes) -> Result<String, FrameError> {
    if body.len() < 2 {
        return Err(FrameError::Malformed("a string's length is missing"));
    }
    let len = usize::from(body.get_u16());
    if body.len() < len {
        return Err(FrameError::Malformed("a string is cut short"));
    }
    let bytes = body.split_to(len);
    String::from_utf8(bytes.to_vec()).map_err(|_| FrameError::NotUtf8)
}

impl Frame {
    fn kind(&self) -> Kind {
        match self {
            Frame::Request { .. } => Kind::Request,
            Frame::Reply { .. } => Kind::Reply,
            Frame::Error { .. } => Kind::Error,
            Frame::StreamItem { .. } => Kind::StreamItem,
            Frame::StreamEnd { .. } => Kind::StreamEnd,
            Frame::Cancel { .. } => Kind::Cancel,
            Frame::Ping { .. } => Kind::Ping,
            Frame::Pong { .. } => Kind::Pong,
            Frame::GoAway { .. } => Kind::GoAway,
        }
    }

    fn call(&self) -> u32 {
        match self {
            Frame::Request { call, .. }
            | Frame::Reply { call, .. }
            | Frame::Error { call, .. }
            | Frame::StreamItem { call, .. }
            | Frame::StreamEnd { call }
            | Frame::Cancel { call } => *call,
            Frame::Ping { nonce } | Frame::Pong { nonce } => *nonce,
            Frame::GoAway { last, .. } => *last,
        }
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(0); // the length, filled in below
        out.put_u8(self.kind() as u8);
        out.put_u8(0);
        out.put_u32(self.call());
        match self {
            Frame::Request { head, payload, .. } => {
                let metadata: Vec<(&str, &str)> =
                    head.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                put_request_head(
                    out,
                    [&head.service, &head.method, &head.correlation_id, &head.traceparent],
                    head.deadline_ms,
                    &metadata,
                );
                out.put_slice(payload);
            }
            Frame::Reply { payload, .. } | Frame::StreamItem { payload, .. } => out.put_slice(payload),
            Frame::Error { problem, .. } => out.put_slice(problem),
            Frame::GoAway { reason, .. } => put_str(out, reason),
            Frame::StreamEnd { .. } | Frame::Cancel { .. } | Frame::Ping { .. } | Frame::Pong { .. } => {}
        }
        Frame::finish(out, start);
    }

    /// About the encoded size (exact but for a request's metadata), so that one allocation does.
    fn encoded_len_hint(&self) -> usize {
        4 + FIXED
            + match self {
                Frame::Request { head, payload, .. } => {
                    let strings = [&head.service, &head.method, &head.correlation_id, &head.traceparent];
                    strings.iter().map(|s| 2 + s.len()).sum::<usize>() + 6 + payload.len()
                }
                Frame::Reply { payload, .. } | Frame::StreamItem { payload, .. } => payload.len(),
                Frame::Error { problem, .. } => problem.len(),
                Frame::GoAway { reason, .. } => 2 + reason.len(),
                Frame::StreamEnd { .. } | Frame::Cancel { .. } | Frame::Ping { .. } | Frame::Pong { .. } => 0,
            }
    }

    /// Starts a `Request` frame in `out` from borrowed parts (no [`RequestHead`] is built):
    /// the header and the request head. The caller appends the payload, then calls
    /// [`Frame::finish`] with the returned offset.
    pub fn start_request(
        out: &mut Vec<u8>,
        call: u32,
        [service, method, correlation_id, traceparent]: [&str; 4],
        deadline_ms: u32,
        metadata: &[(&str, &str)],
    ) -> usize {
        let start = out.len();
        out.put_u32(0); // the length, filled in by `finish`
        out.put_u8(Kind::Request as u8);
        out.put_u8(0);
        out.put_u32(call);
        put_request_head(out, [service, method, correlation_id, traceparent], deadline_ms, metadata);
        start
    }

    /// Completes a frame begun at `start` ([`Frame::start_request`]): writes its length.
    pub fn finish(out: &mut [u8], start: usize) {
        let length = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }

    /// The frame's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len_hint());
        self.encode(&mut out);
        out.freeze()
    }

    /// Takes one frame off the front of `buf`: `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A frame over `max_len` bytes, or one that does not follow the format.
    pub fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if length > max_len {
            return Err(FrameError::TooLarge { length, limit: max_len });
        }
        if length < FIXED {
            return Err(FrameError::Malformed("shorter than a frame header"));
        }
        if buf.len() < 4 + length {
            buf.reserve(4 + length - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        let mut body = buf.split_to(length).freeze();
        let kind_byte = body.get_u8();
        let _flags = body.get_u8();
        let call = body.get_u32();
        let kind = Kind::from_byte(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
        let empty = |body: &Bytes, what: &'static str| {
            if body.is_empty() { Ok(()) } else { Err(FrameError::Malformed(what)) }
        };
        Ok(Some(match kind {
            Kind::Request => {
                let service = get_str(&mut body)?;
                let method = get_str(&mut body)?;
                let correlation_id = get_str(&mut body)?;
                let traceparent = get_str(&mut body)?;
                if body.len() < 6 {
                    return Err(FrameError::Malformed("a request's deadline or metadata count is missing"));
                }
                let deadline_ms = body.get_u32();
                let count = body.get_u16();
                let mut metadata = Vec::with_capacity(usize::from(count).min(64));
                for _ in 0..count {
                    metadata.push((get_str(&mut body)?, get_str(&mut body)?));
                }
                Frame::Request {
                    call,
                    head: RequestHead { service, method, correlation_id, traceparent, deadline_ms, metadata },
                    payload: body,
                }
            }
            Kind::Reply => Frame::Reply { call, payload: body },
            Kind::Error => Frame::Error { call, problem: body },
            Kind::StreamItem => Frame::StreamItem { call, payload: body },
            Kind::StreamEnd => {
                empty(&body, "a stream end has a body")?;
                Frame::StreamEnd { call }
            }
            Kind::Cancel => {
                empty(&body, "a cancel has a body")?;
                Frame::Cancel { call }
            }
            Kind::Ping => {
                empty(&body, "a ping has a body")?;
                Frame::Ping { nonce: call }
            }
            Kind::Pong => {
                empty(&body, "a pong has a body")?;
                Frame::Pong { nonce: call }
            }
            Kind::GoAway => {
                let reason = get_str(&mut body)?;
                empty(&body, "a goaway has bytes after its reason")?;
                Frame::GoAway { last: call, reason }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of `docs/protocol.md`, checked both ways.
    fn vectors() -> Vec<(Frame, &'static str)> {
        let problem = "86 a4 74 79 70 65 b9 75 72 6e 3a 73 76 63 67 65 6e 3a 63 6f 64 65 3a 6e 6f 74 5f 66 6f 75 6e 64 \
                       a5 74 69 74 6c 65 a9 4e 6f 74 20 66 6f 75 6e 64 a6 73 74 61 74 75 73 cd 01 94 a6 64 65 74 61 69 \
                       6c ad 6e 6f 20 70 72 6f 64 75 63 74 20 34 32 a4 63 6f 64 65 a9 6e 6f 74 5f 66 6f 75 6e 64 ae 63 \
                       6f 72 72 65 6c 61 74 69 6f 6e 5f 69 64 a2 63 31";
        vec![
            (
                Frame::Request {
                    call: 1,
                    head: RequestHead {
                        service: "shop.Catalog".into(),
                        method: "get".into(),
                        correlation_id: "c1".into(),
                        traceparent: String::new(),
                        deadline_ms: 250,
                        metadata: vec![("authorization".into(), "Bearer t".into())],
                    },
                    payload: Bytes::from(unhex("81 a2 69 64 2a")),
                },
                "00 00 00 43 01 00 00 00 00 01 00 0c 73 68 6f 70 2e 43 61 74 61 6c 6f 67 00 03 67 65 74 00 02 63 31 \
                 00 00 00 00 00 fa 00 01 00 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e 00 08 42 65 61 72 65 72 20 74 \
                 81 a2 69 64 2a",
            ),
            (
                Frame::Reply {
                    call: 1,
                    payload: Bytes::from(unhex("82 a2 69 64 2a a4 6e 61 6d 65 a3 50 65 6e")),
                },
                "00 00 00 14 02 00 00 00 00 01 82 a2 69 64 2a a4 6e 61 6d 65 a3 50 65 6e",
            ),
            (Frame::Reply { call: 2, payload: Bytes::new() }, "00 00 00 06 02 00 00 00 00 02"),
            (
                Frame::Error { call: 3, problem: Bytes::from(unhex(problem)) },
                Box::leak(format!("00 00 00 76 03 00 00 00 00 03 {problem}").into_boxed_str()),
            ),
            (
                Frame::StreamItem { call: 4, payload: Bytes::from_static(&[1]) },
                "00 00 00 07 04 00 00 00 00 04 01",
            ),
            (Frame::StreamEnd { call: 4 }, "00 00 00 06 05 00 00 00 00 04"),
            (Frame::Cancel { call: 5 }, "00 00 00 06 06 00 00 00 00 05"),
            (Frame::Ping { nonce: 7 }, "00 00 00 06 07 00 00 00 00 07"),
            (Frame::Pong { nonce: 7 }, "00 00 00 06 08 00 00 00 00 07"),
            (Frame::GoAway { last: 9, reason: "bye".into() }, "00 00 00 0b 09 00 00 00 00 09 00 03 62 79 65"),
        ]
    }

    fn unhex(text: &str) -> Vec<u8> {
        text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect()
    }

    #[test]
    fn vectors_encode_and_decode() {
        for (frame, hex) in vectors() {
            let bytes = unhex(hex);
            assert_eq!(frame.to_bytes().as_ref(), bytes.as_slice(), "{frame:?}");
            let mut buf = BytesMut::from(bytes.as_slice());
            assert_eq!(Frame::decode(&mut buf, 1 << 20), Ok(Some(frame.clone())));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn the_error_vector_is_the_problem_document() {
        let problem: crate::status::Problem =
            rmp_serde::from_slice(&unhex(&vectors()[3].1[30..])).expect("a MessagePack problem");
        assert_eq!((problem.status, problem.code.as_str()), (404, "not_found"));
    }

    #[test]
    fn frames_arriving_a_byte_at_a_time_decode_in_order() {
        let all: Vec<u8> = vectors().iter().flat_map(|(_, hex)| unhex(hex)).collect();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in all {
            buf.extend_from_slice(&[byte]);
            while let Some(frame) = Frame::decode(&mut buf, 1 << 20).expect("valid") {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, vectors().into_iter().map(|(f, _)| f).collect::<Vec<_>>());
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let decode = |hex: &str| Frame::decode(&mut BytesMut::from(unhex(hex).as_slice()), 64);
        assert_eq!(decode("00 00 01 00 02"), Err(FrameError::TooLarge { length: 256, limit: 64 }));
        assert!(matches!(decode("00 00 00 02 02 00"), Err(FrameError::Malformed(_))));
        assert_eq!(decode("00 00 00 06 63 00 00 00 00 01"), Err(FrameError::UnknownKind(0x63)));
        assert!(matches!(decode("00 00 00 07 05 00 00 00 00 01 ff"), Err(FrameError::Malformed(_))));
        assert!(matches!(decode("00 00 00 08 01 00 00 00 00 01 00 05"), Err(FrameError::Malformed(_))));
        assert_eq!(decode("00 00 00 0a 09 00 00 00 00 01 00 02 ff fe"), Err(FrameError::NotUtf8));
        assert_eq!(decode("00 00 00"), Ok(None));
    }
}
