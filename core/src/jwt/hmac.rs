//! HMAC checks, for every secret: those shorter than jwt-simple takes (1 to 11 bytes; Janus
//! accepts them — its own example secret is `secret` — so a carried-over configuration keeps
//! working, and the server is named in a configure-time warning, never the key) and the others,
//! in one pass over the token. The key's two padded blocks (RFC 2104) are absorbed once, when
//! the key is configured, so a check hashes only the signed part and the inner digest. The MAC
//! is compared in constant time, then the same claims checks as on the other paths.

use super::header::Jws;
use super::hosted;
use super::Alg;
use crate::common::secret::constant_time_eq;
use crate::Denial;
use crate::Identity;
use hmac_sha512::sha384;

/// An HMAC key with its inner and outer hash states ready (the key XOR ipad, XOR opad).
pub enum Prepared {
    S256 { inner: hmac_sha256::Hash, outer: hmac_sha256::Hash },
    S384 { inner: sha384::Hash, outer: sha384::Hash },
    S512 { inner: hmac_sha512::Hash, outer: hmac_sha512::Hash },
}

/// The key's block XOR `pad` (a key longer than the block is hashed first, as RFC 2104 says).
fn padded<const B: usize>(key: &[u8], pad: u8, hash: impl Fn(&[u8]) -> Vec<u8>) -> [u8; B] {
    let hashed;
    let key = if key.len() > B {
        hashed = hash(key);
        &hashed[..]
    } else {
        key
    };
    let mut block = [pad; B];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    block
}

impl Prepared {
    /// None for an algorithm that is not HMAC.
    pub fn new(alg: Alg, key: &[u8]) -> Option<Prepared> {
        macro_rules! states {
            ($hash:ty, $block:expr) => {{
                let digest = |k: &[u8]| <$hash>::hash(k).to_vec();
                let (mut inner, mut outer) = (<$hash>::new(), <$hash>::new());
                inner.update(padded::<$block>(key, 0x36, digest));
                outer.update(padded::<$block>(key, 0x5c, digest));
                (inner, outer)
            }};
        }
        Some(match alg {
            Alg::HS256 => {
                let (inner, outer) = states!(hmac_sha256::Hash, 64);
                Prepared::S256 { inner, outer }
            }
            Alg::HS384 => {
                let (inner, outer) = states!(sha384::Hash, 128);
                Prepared::S384 { inner, outer }
            }
            Alg::HS512 => {
                let (inner, outer) = states!(hmac_sha512::Hash, 128);
                Prepared::S512 { inner, outer }
            }
            _ => return None,
        })
    }

    /// The MAC of `input`: its first `n` bytes, `(bytes, n)`.
    pub fn mac(&self, input: &[u8]) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        macro_rules! mac {
            ($inner:expr, $outer:expr) => {{
                let (mut inner, mut outer) = (*$inner, *$outer);
                inner.update(input);
                outer.update(inner.finalize());
                let mac = outer.finalize();
                out.iter_mut().zip(mac.iter()).for_each(|(o, m)| *o = *m);
                mac.len()
            }};
        }
        let n = match self {
            Prepared::S256 { inner, outer } => mac!(inner, outer),
            Prepared::S384 { inner, outer } => mac!(inner, outer),
            Prepared::S512 { inner, outer } => mac!(inner, outer),
        };
        (out, n)
    }
}

pub fn verify(key: &Prepared, jws: &Jws, now: u64, leeway: u64) -> Result<Identity, Denial> {
    let (signed, payload_b64, sig) = hosted::parts(jws)?;
    let (mac, n) = key.mac(signed.as_bytes());
    if !constant_time_eq(mac.get(..n).unwrap_or_default(), &sig) {
        return Err(Denial::BadSignature);
    }
    hosted::claims(payload_b64, now, leeway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_mac_as_the_hmac_crates_for_every_key_length() {
        for len in [0usize, 1, 11, 32, 63, 64, 65, 127, 128, 129, 300] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            for msg in [&b""[..], b"a", &[0x61; 200]] {
                let mac = |alg| {
                    let (m, n) = Prepared::new(alg, &key).unwrap().mac(msg);
                    m[..n].to_vec()
                };
                assert_eq!(mac(Alg::HS256), hmac_sha256::HMAC::mac(msg, &key).to_vec(), "{len}");
                assert_eq!(mac(Alg::HS384), sha384::HMAC::mac(msg, &key).to_vec(), "{len}");
                assert_eq!(mac(Alg::HS512), hmac_sha512::HMAC::mac(msg, &key).to_vec(), "{len}");
            }
        }
        assert!(Prepared::new(Alg::RS256, b"k").is_none());
    }
}
