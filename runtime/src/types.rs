//! The runtime types behind some IDL scalars, with the JSON forms of `docs/rest.md`.
//!
//! In human-readable formats (JSON) `bytes` is base64 and `duration` is `"1.5s"`; binary
//! codecs get raw bytes and `(seconds, nanoseconds)`.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `timestamp`: an instant in UTC, RFC 3339 in JSON.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// `uuid`.
pub use uuid::Uuid;

/// `bytes`: base64 (standard, padded) in JSON.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 text or bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map(Bytes)
                    .map_err(|e| E::custom(format_args!("invalid base64: {e}")))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        if d.is_human_readable() { d.deserialize_str(V) } else { d.deserialize_byte_buf(V) }
    }
}

/// `duration`: `"1.5s"` in JSON (seconds, a fraction, `s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, nanos) = (self.0.as_secs(), self.0.subsec_nanos());
        if nanos == 0 {
            write!(f, "{secs}s")
        } else {
            let fraction = format!("{nanos:09}");
            write!(f, "{secs}.{}s", fraction.trim_end_matches('0'))
        }
    }
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid duration {text:?}: expected seconds like \"1.5s\"");
        let number = text.strip_suffix('s').ok_or_else(bad)?;
        let (secs, fraction) = number.split_once('.').unwrap_or((number, ""));
        if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
            return Err(bad());
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        let nanos: u32 =
            if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().map_err(|_| bad())? };
        Ok(Duration(std::time::Duration::new(secs, nanos)))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            (self.0.as_secs(), self.0.subsec_nanos()).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = std::borrow::Cow::<str>::deserialize(d)?;
            text.parse().map_err(de::Error::custom)
        } else {
            let (secs, nanos) = <(u64, u32)>::deserialize(d)?;
            if nanos >= 1_000_000_000 {
                return Err(de::Error::custom("duration nanoseconds out of range"));
            }
            Ok(Duration(std::time::Duration::new(secs, nanos)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_base64_in_json() {
        let b = Bytes(vec![0, 1, 2, 250]);
        let json = serde_json::to_string(&b).expect("json");
        assert_eq!(json, "\"AAEC+g==\"");
        assert_eq!(serde_json::from_str::<Bytes>(&json).expect("back"), b);
        assert!(serde_json::from_str::<Bytes>("\"!!\"").is_err());
    }

    #[test]
    fn durations_are_seconds_with_a_fraction() {
        let cases = [(1_500, "1.5s"), (0, "0s"), (1, "0.001s"), (60_000, "60s")];
        for (ms, text) in cases {
            let d = Duration(std::time::Duration::from_millis(ms));
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<Duration>().expect("parses"), d);
        }
        assert_eq!("0.000000001s".parse::<Duration>().expect("ns").0.as_nanos(), 1);
        for bad in ["1.5", "s", "-1s", "1.0000000001s", "1,5s", "abc"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }
}
