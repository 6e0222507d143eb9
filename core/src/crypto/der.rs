//! ECDSA signatures between the JWS form (R‖S, fixed width, RFC 7518 §3.4) and the DER form
//! (SEQUENCE of two INTEGERs) that BoringSSL takes and gives.

/// R‖S of `2 * n` bytes → DER. None when the length is not `2 * n`.
pub fn raw_to_der(raw: &[u8], n: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * n || n == 0 || n > 66 {
        return None;
    }
    let (r, s) = raw.split_at(n);
    let (r, s) = (integer(r), integer(s));
    let body = r.len() + s.len();
    let mut out = Vec::with_capacity(body + 3);
    out.push(0x30);
    push_len(&mut out, body);
    out.extend_from_slice(&r);
    out.extend_from_slice(&s);
    Some(out)
}

/// A DER INTEGER of an unsigned big-endian value: minimal, with a 0 byte when the top bit is set.
fn integer(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    let v = v.get(start..).unwrap_or(&[]);
    let pad = v.first().is_none_or(|b| b & 0x80 != 0);
    let len = v.len() + usize::from(pad);
    let mut out = Vec::with_capacity(len + 3);
    out.push(0x02);
    push_len(&mut out, len);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.push(0x81);
        out.push(len as u8);
    }
}

/// DER → R‖S of `2 * n` bytes. None when it is not a well-formed pair that fits.
pub fn der_to_raw(der: &[u8], n: usize) -> Option<Vec<u8>> {
    let (tag, body, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (t1, r, after_r) = tlv(body)?;
    let (t2, s, after_s) = tlv(after_r)?;
    if t1 != 0x02 || t2 != 0x02 || !after_s.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(2 * n);
    for v in [r, s] {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        let v = v.get(start..)?;
        if v.len() > n {
            return None;
        }
        out.resize(out.len() + n - v.len(), 0);
        out.extend_from_slice(v);
    }
    Some(out)
}

/// One tag-length-value: (tag, value, what follows). Short and one-byte long lengths only.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = match first {
        l if l < 0x80 => (usize::from(l), b),
        0x81 => {
            let (&l, b) = b.split_first()?;
            (usize::from(l), b)
        }
        _ => return None,
    };
    if b.len() < len {
        return None;
    }
    let (value, rest) = b.split_at(len);
    Some((tag, value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading 0 byte in DER
        raw[32..].copy_from_slice(&[0x01; 32]);
        let der = raw_to_der(&raw, 32).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x45, 0x02, 0x21, 0x00]);
        assert_eq!(der_to_raw(&der, 32).unwrap(), raw);
    }

    #[test]
    fn short_scalars_are_left_padded() {
        let mut raw = vec![0u8; 96];
        raw[47] = 5;
        raw[95] = 0x90;
        let der = raw_to_der(&raw, 48).unwrap();
        assert_eq!(der, vec![0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x02, 0x00, 0x90]);
        assert_eq!(der_to_raw(&der, 48).unwrap(), raw);
        let zero = raw_to_der(&[0u8; 64], 32).unwrap();
        assert_eq!(zero, vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert!(raw_to_der(&[1; 63], 32).is_none());
        assert!(der_to_raw(&[0x30, 0x03, 0x02, 0x01], 32).is_none());
        assert!(der_to_raw(&[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 32).is_none());
        let mut long = vec![0x30, 0x25, 0x02, 0x21];
        long.extend_from_slice(&[0x7f; 33]);
        long.extend_from_slice(&[0x02, 0x00]);
        assert!(der_to_raw(&long, 32).is_none());
        let mut trailing = raw_to_der(&[1; 64], 32).unwrap();
        trailing.push(0);
        assert!(der_to_raw(&trailing, 32).is_none());
    }
}
