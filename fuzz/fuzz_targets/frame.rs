//! Arbitrary bytes through the RPC frame decoder (`svcgen::rpc::frame::Frame::decode`), as a
//! server or client reads them off a connection.
//!
//! (a) The whole input is decoded as one stream: frame after frame until the decoder wants more
//!     bytes (`Ok(None)`) or refuses (`Err`). Decoding must never panic; `Ok(None)` must leave
//!     the buffer alone; a frame must consume exactly its `4 + length` bytes. Every frame must
//!     round-trip: encoding it gives back the bytes it was read from (with the flags byte
//!     zeroed, as the encoder writes it), and decoding those gives an equal frame that consumes
//!     them all. Errors must render.
//! (b) The same input fed a few bytes at a time (the chunk size comes from the first byte), as
//!     reads off a socket arrive: the decoder must produce the same frames and the same final
//!     outcome as in (a).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use svcgen::rpc::frame::{Frame, FrameError};

/// A small limit, so `TooLarge` is reachable with inputs of a few KiB.
const MAX_FRAME: usize = 1024;

/// How decoding a stream ended: it needed more bytes, or it refused a frame.
#[derive(Debug, PartialEq)]
enum End {
    NeedMore,
    Refused(FrameError),
}

/// Takes every complete frame off the front of `buf`, checking each one.
fn drain(buf: &mut BytesMut, frames: &mut Vec<Frame>) -> End {
    loop {
        let before = buf.clone();
        match Frame::decode(buf, MAX_FRAME) {
            Ok(Some(frame)) => {
                let length = u32::from_be_bytes([before[0], before[1], before[2], before[3]]) as usize;
                assert!(length <= MAX_FRAME, "a frame over the limit was accepted: {length}");
                assert_eq!(buf.len(), before.len() - 4 - length, "a frame consumed the wrong number of bytes");
                round_trip(&frame, &before[..4 + length]);
                frames.push(frame);
            }
            Ok(None) => {
                assert_eq!(&buf[..], &before[..], "`Ok(None)` consumed bytes");
                return End::NeedMore;
            }
            Err(error) => {
                let _ = error.to_string();
                return End::Refused(error);
            }
        }
    }
}

/// Encoding `frame` gives back `wire` (flags zeroed); decoding that gives `frame` again.
fn round_trip(frame: &Frame, wire: &[u8]) {
    let encoded = frame.to_bytes();
    let mut expected = wire.to_vec();
    expected[5] = 0; // the flags byte: ignored on reading, 0 on writing
    assert_eq!(&encoded[..], &expected[..], "re-encoding {frame:?} changed its bytes");
    let mut again = BytesMut::from(&encoded[..]);
    match Frame::decode(&mut again, MAX_FRAME) {
        Ok(Some(decoded)) => assert_eq!(&decoded, frame, "the frame changed in a round trip"),
        other => panic!("the encoding of {frame:?} does not decode: {other:?}"),
    }
    assert!(again.is_empty(), "the re-encoded frame left {} bytes", again.len());
}

fuzz_target!(|data: &[u8]| {
    // (a) all at once.
    let mut whole = BytesMut::from(data);
    let mut frames = Vec::new();
    let end = drain(&mut whole, &mut frames);

    // (b) in chunks of 1 to 8 bytes.
    let chunk = usize::from(data.first().copied().unwrap_or(0) % 8) + 1;
    let mut buf = BytesMut::new();
    let mut chunked = Vec::new();
    let mut chunked_end = End::NeedMore;
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        chunked_end = drain(&mut buf, &mut chunked);
        if chunked_end != End::NeedMore {
            break;
        }
    }
    assert_eq!(chunked, frames, "chunked reads decoded different frames");
    assert_eq!(chunked_end, end, "chunked reads ended differently");
    if end == End::NeedMore {
        assert_eq!(&buf[..], &whole[..], "chunked reads left different bytes");
    }
});
