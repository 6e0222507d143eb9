//! The protobuf messages of Envoy's `verify_signature` and `sign` foreign functions
//! (`source/extensions/common/wasm/ext/{verify_signature,sign}.proto`), encoded and decoded by
//! hand: a handful of length-delimited fields do not earn a protobuf library.
//!
//! VerifySignatureArguments: hash_function=1 (string), public_key=2 (DER), signature=3,
//! text=4, public_key_pem=5. VerifySignatureResult: result=1 (bool), error=2.
//! SignArguments: hash_function=1, private_key=2 (DER), text=3, private_key_pem=4.
//! SignResult: result=1 (bool), signature=2, error=3.

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    varint(out, u64::from(field) << 3 | 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

pub fn verify_arguments(hash: &str, public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hash.len() + public_key_der.len() + signature.len() + text.len() + 16);
    bytes_field(&mut out, 1, hash.as_bytes());
    bytes_field(&mut out, 2, public_key_der);
    bytes_field(&mut out, 3, signature);
    bytes_field(&mut out, 4, text);
    out
}

pub fn sign_arguments(hash: &str, private_key_pem: &str, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hash.len() + private_key_pem.len() + text.len() + 16);
    bytes_field(&mut out, 1, hash.as_bytes());
    bytes_field(&mut out, 3, text);
    bytes_field(&mut out, 4, private_key_pem.as_bytes());
    out
}

/// One decoded field: its number and its value (a varint or a byte string).
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

fn read_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, b.get(i + 1..)?));
        }
    }
    None
}

/// All fields of a message; None when it is not well-formed (or uses 32/64-bit fields, which
/// these messages do not have).
fn fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (key, rest) = read_varint(b)?;
        let field = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => {
                let (v, rest) = read_varint(rest)?;
                out.push(Field::Varint(field, v));
                b = rest;
            }
            2 => {
                let (len, rest) = read_varint(rest)?;
                let len = usize::try_from(len).ok()?;
                if rest.len() < len {
                    return None;
                }
                let (value, rest) = rest.split_at(len);
                out.push(Field::Bytes(field, value));
                b = rest;
            }
            _ => return None,
        }
    }
    Some(out)
}

fn result_flag(fields: &[Field<'_>]) -> bool {
    // proto3: the last occurrence wins; absent means false.
    fields.iter().rev().find_map(|f| match f {
        Field::Varint(1, v) => Some(*v != 0),
        _ => None,
    }) == Some(true)
}

/// VerifySignatureResult → whether the signature was valid; None when unreadable. The answer
/// to a good signature (`result: true`, no error) is read without decoding its fields: a
/// first-seen token runs through less code.
pub fn verify_result(answer: &[u8]) -> Option<bool> {
    if answer == VALID {
        return Some(true);
    }
    Some(result_flag(&fields(answer)?))
}

/// A VerifySignatureResult holding only `result: true`, as proto3 encodes it.
const VALID: [u8; 2] = [0x08, 0x01];

/// SignResult → the signature when signing succeeded; None otherwise.
pub fn sign_result(answer: &[u8]) -> Option<Vec<u8>> {
    let fields = fields(answer)?;
    if !result_flag(&fields) {
        return None;
    }
    let sig = fields.iter().rev().find_map(|f| match f {
        Field::Bytes(2, v) => Some(v.to_vec()),
        _ => None,
    })?;
    (!sig.is_empty()).then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_protobuf_fields() {
        let a = verify_arguments("sha256", &[1, 2], &[3], b"t");
        assert_eq!(a, vec![0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6', 0x12, 2, 1, 2, 0x1a, 1, 3, 0x22, 1, b't']);
        let s = sign_arguments("sha384", "PEM", b"");
        assert_eq!(s, vec![0x0a, 6, b's', b'h', b'a', b'3', b'8', b'4', 0x1a, 0, 0x22, 3, b'P', b'E', b'M']);
        let mut long = Vec::new();
        bytes_field(&mut long, 2, &[0u8; 300]);
        assert_eq!(&long[..3], &[0x12, 0xac, 0x02]);
    }

    #[test]
    fn results_decode() {
        assert_eq!(verify_result(&[0x08, 0x01]), Some(true));
        assert_eq!(verify_result(&[]), Some(false));
        assert_eq!(verify_result(&[0x08, 0x00, 0x12, 0x03, b'b', b'a', b'd']), Some(false));
        assert_eq!(verify_result(&[0x08]), None);
        assert_eq!(verify_result(&[0x12, 0x09, b'x']), None);
        assert_eq!(verify_result(&[0x0d, 0, 0, 0, 0]), None);
        assert_eq!(sign_result(&[0x08, 0x01, 0x12, 0x02, 7, 8]), Some(vec![7, 8]));
        assert_eq!(sign_result(&[0x08, 0x00, 0x12, 0x02, 7, 8]), None);
        assert_eq!(sign_result(&[0x08, 0x01, 0x1a, 0x01, b'e']), None);
        assert_eq!(read_varint(&[0xff; 11]), None);
    }
}
