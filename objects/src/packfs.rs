//! The pack-fs framing (protocol §4.3): records of `40 ASCII hex id ‖ u32 BE length ‖ bytes`,
//! concatenated with no count or terminator. Used by `POST pack-fs` responses and `recv-fs`.

use crate::{ObjectError, ObjectId};

/// Appends one record to `out`.
pub fn push_record(out: &mut Vec<u8>, id: &ObjectId, data: &[u8]) {
    out.extend_from_slice(&id.hex_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// Splits a pack-fs body into `(id, stored bytes)` records.
///
/// Rejects a record whose header or data overruns the body (a truncated response) and an id that
/// is not 40 lowercase hex digits. Never panics, whatever the input.
pub fn parse(body: &[u8]) -> Result<Vec<(ObjectId, &[u8])>, ObjectError> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < body.len() {
        let rest = &body[p..];
        if rest.len() < 44 {
            return Err(ObjectError::BadPack(format!("truncated record header at offset {p}")));
        }
        let id = ObjectId::parse_bytes(&rest[..40])
            .ok_or_else(|| ObjectError::BadPack(format!("invalid object id at offset {p}")))?;
        let len = u32::from_be_bytes(rest[40..44].try_into().expect("4 bytes")) as usize;
        if rest.len() - 44 < len {
            return Err(ObjectError::BadPack(format!(
                "record {id} at offset {p} claims {len} bytes but only {} remain",
                rest.len() - 44
            )));
        }
        out.push((id, &rest[44..44 + len]));
        p += 44 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// TV4: the pack-fs record of TV2.
    #[test]
    fn tv4_record() {
        let stored = hex::decode("789cab564acac94fce8ecf4c2956b25288564a324e0322c3147320344e364f4a4c31b730364f49334f33354e344ab1484ab13031374a4a518ad551502aceac4a05ea323605b24b2a0b406c4320b32cb5a838333f0fc4ab050082c01c35").unwrap();
        let id = ObjectId::parse("f8d2d17acad4d83188bee1c9863827b82c593e1f").unwrap();
        let mut rec = Vec::new();
        push_record(&mut rec, &id, &stored);
        assert_eq!(rec.len(), 137);
        assert_eq!(&rec[..40], b"f8d2d17acad4d83188bee1c9863827b82c593e1f");
        assert_eq!(&rec[40..44], &[0, 0, 0, 0x5d]);
        let parsed = parse(&rec).unwrap();
        assert_eq!(parsed, vec![(id, &stored[..])]);
        for cut in 1..rec.len() {
            assert!(parse(&rec[..cut]).is_err(), "truncated at {cut}");
        }
        assert!(parse(b"").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&body);
        }

        #[test]
        fn round_trip_and_truncation(records in proptest::collection::vec(
            (any::<[u8; 20]>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..8)) {
            let mut body = Vec::new();
            for (id, data) in &records {
                push_record(&mut body, &ObjectId::from_bytes(*id), data);
            }
            let parsed = parse(&body).unwrap();
            prop_assert_eq!(parsed.len(), records.len());
            for ((id, data), (pid, pdata)) in records.iter().zip(&parsed) {
                prop_assert_eq!(ObjectId::from_bytes(*id), *pid);
                prop_assert_eq!(&data[..], *pdata);
            }
            // Any cut inside the last record is detected.
            let (_, last) = records.last().unwrap();
            let last_len = 44 + last.len();
            for cut in (body.len() - last_len + 1)..body.len() {
                prop_assert!(parse(&body[..cut]).is_err());
            }
        }
    }
}
