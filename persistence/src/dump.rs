//! DUMP / RESTORE payloads: one serialized object (type byte + RDB body),
//! then the RDB version (2 bytes LE), then the CRC-64 (8 bytes LE) of
//! everything before it — Redis's `createDumpPayload` and
//! `verifyDumpPayload`.

use crate::crc64::crc64;
use crate::rdb::{self, DecodeOptions, Object, ObjectEncoder, RDB_VERSION};

/// RESTORE's reply when the footer's version or checksum is wrong.
pub const ERR_BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
/// RESTORE's reply when the footer is right but the object does not decode.
pub const ERR_BAD_DATA_FORMAT: &str = "ERR Bad data format";

/// Footer bytes: version + checksum.
pub const FOOTER_LEN: usize = 10;

/// Why a payload was refused.
#[derive(Debug)]
pub enum DumpError {
    /// Shorter than the footer, a version above ours, or a CRC mismatch
    /// ([`ERR_BAD_PAYLOAD`]).
    VersionOrChecksum,
    /// The object inside does not decode ([`ERR_BAD_DATA_FORMAT`]).
    BadData(rdb::Error),
}

impl DumpError {
    /// The error line RESTORE replies with, as Redis words it.
    pub fn reply(&self) -> &'static str {
        match self {
            DumpError::VersionOrChecksum => ERR_BAD_PAYLOAD,
            DumpError::BadData(_) => ERR_BAD_DATA_FORMAT,
        }
    }
}

impl std::fmt::Display for DumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DumpError::VersionOrChecksum => f.write_str(ERR_BAD_PAYLOAD),
            DumpError::BadData(e) => write!(f, "{ERR_BAD_DATA_FORMAT}: {e}"),
        }
    }
}

impl std::error::Error for DumpError {}

/// Appends the footer to a serialized object (as produced by
/// [`ObjectEncoder`]), making it a DUMP payload.
pub fn seal(mut object: Vec<u8>) -> Vec<u8> {
    object.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &object);
    object.extend_from_slice(&crc.to_le_bytes());
    object
}

/// The DUMP payload of a decoded object, with Redis's default encoding
/// options. The server with its own structures uses an [`ObjectEncoder`]
/// and [`seal`] instead.
pub fn dump(obj: &Object) -> std::io::Result<Vec<u8>> {
    ObjectEncoder::default().object(obj).map(seal)
}

/// Checks the footer (`verifyDumpPayload`): a version of at most ours and
/// a matching CRC. Returns the serialized object before the footer.
pub fn verify_footer(payload: &[u8]) -> Result<&[u8], DumpError> {
    if payload.len() < FOOTER_LEN {
        return Err(DumpError::VersionOrChecksum);
    }
    let body_len = payload.len() - FOOTER_LEN;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(DumpError::VersionOrChecksum);
    }
    let stored = u64::from_le_bytes([
        footer[2], footer[3], footer[4], footer[5], footer[6], footer[7], footer[8], footer[9],
    ]);
    if crc64(0, &payload[..payload.len() - 8]) != stored {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(&payload[..body_len])
}

/// Verifies a payload as RESTORE does and decodes its object. Like Redis,
/// bytes after the object (before the footer) are ignored, and an empty
/// collection is bad data.
pub fn verify(payload: &[u8]) -> Result<Object, DumpError> {
    let body = verify_footer(payload)?;
    let (obj, _) =
        rdb::decode_object(body, DecodeOptions::default()).map_err(DumpError::BadData)?;
    if obj.is_empty_collection() {
        return Err(DumpError::BadData(rdb::Error {
            offset: 0,
            kind: rdb::ErrorKind::Corrupt("empty collection".into()),
        }));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{types, Element};

    #[test]
    fn known_redis_payload() {
        // redis-cli: SET k hello; DUMP k
        let payload = b"\x00\x05hello\n\x00cr\xdfve4 \n";
        assert_eq!(verify(payload).unwrap(), Object::Str(b"hello".to_vec()));
        assert_eq!(
            dump(&Object::Str(b"hello".to_vec())).unwrap(),
            payload.to_vec()
        );
    }

    #[test]
    fn round_trip_every_type() {
        let objects = vec![
            Object::Str(b"12345".to_vec()),
            Object::Str(vec![b'a'; 100]),
            Object::List(vec![b"a".to_vec(), b"1".to_vec()]),
            Object::Set(vec![b"1".to_vec(), b"2".to_vec()]),
            Object::Set(vec![b"x".to_vec()]),
            Object::Hash(vec![(b"f".to_vec(), b"v".to_vec())]),
            Object::ZSet(vec![(b"m".to_vec(), 1.5)]),
        ];
        for o in objects {
            assert_eq!(verify(&dump(&o).unwrap()).unwrap(), o);
        }
    }

    #[test]
    fn refuses_bad_footers() {
        let good = dump(&Object::Str(b"v".to_vec())).unwrap();
        assert!(matches!(
            verify(&good[..9]),
            Err(DumpError::VersionOrChecksum)
        ));
        let mut bad = good.clone();
        bad[0] ^= 0x10;
        let e = verify(&bad).unwrap_err();
        assert_eq!(e.reply(), ERR_BAD_PAYLOAD);
        // Version 11 with a correct CRC is still refused.
        let mut v11 = good[..good.len() - FOOTER_LEN].to_vec();
        v11.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64(0, &v11);
        v11.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(verify(&v11), Err(DumpError::VersionOrChecksum)));
        // Older versions are accepted.
        let mut v9 = good[..good.len() - FOOTER_LEN].to_vec();
        v9.extend_from_slice(&9u16.to_le_bytes());
        let crc = crc64(0, &v9);
        v9.extend_from_slice(&crc.to_le_bytes());
        assert!(verify(&v9).is_ok());
    }

    #[test]
    fn bad_data_inside_a_good_footer() {
        for body in [
            vec![types::STREAM_LISTPACKS_2, 0],
            vec![types::LIST, 0],
            vec![types::STRING, 5, b'a'],
            vec![99],
        ] {
            let e = verify(&seal(body)).unwrap_err();
            assert_eq!(e.reply(), ERR_BAD_DATA_FORMAT, "{e}");
        }
    }

    #[test]
    fn encoder_views_seal_into_payloads() {
        let mut enc = ObjectEncoder::default();
        let members: Vec<(&[u8], f64)> = vec![(b"b", 2.0), (b"a", 1.0)];
        let payload = seal(enc.zset(2, members.iter().copied()).unwrap());
        assert_eq!(
            verify(&payload).unwrap(),
            Object::ZSet(vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 2.0)])
        );
        let payload = seal(enc.string(Element::Int(-5)).unwrap());
        assert_eq!(verify(&payload).unwrap(), Object::Str(b"-5".to_vec()));
    }
}
