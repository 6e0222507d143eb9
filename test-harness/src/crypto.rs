//! Envoy's `verify_signature` and `sign` foreign functions, played with ring (BoringSSL's
//! descendant) natively: protobuf arguments in, protobuf result out, DER keys and ECDSA
//! signatures, the same statuses Envoy gives (a key it cannot read → BadArgument, a wrong
//! signature → Ok with result false). Its own decoding: the harness shares no code with the
//! guest's encoder.

use crate::state::ForeignFn;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, RsaKeyPair, UnparsedPublicKey};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How many times each function was called (to tell which path a test took).
#[derive(Default, Debug)]
pub struct CryptoCalls {
    pub verify: AtomicUsize,
    pub sign: AtomicUsize,
}

impl CryptoCalls {
    pub fn verifies(&self) -> usize {
        self.verify.load(Ordering::SeqCst)
    }
    pub fn signs(&self) -> usize {
        self.sign.load(Ordering::SeqCst)
    }
}

/// Protobuf fields by number (length-delimited values only; these messages have no others).
fn fields(mut b: &[u8]) -> Option<Vec<(u64, Vec<u8>)>> {
    fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
        let mut v = 0u64;
        for (i, byte) in b.iter().enumerate().take(10) {
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some((v, &b[i + 1..]));
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let (key, rest) = varint(b)?;
        if key & 7 != 2 {
            return None;
        }
        let (len, rest) = varint(rest)?;
        let len = usize::try_from(len).ok()?;
        if rest.len() < len {
            return None;
        }
        out.push((key >> 3, rest[..len].to_vec()));
        b = &rest[len..];
    }
    Some(out)
}

fn field(fields: &[(u64, Vec<u8>)], n: u64) -> Vec<u8> {
    fields.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn encode(result: bool, bytes: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    if result {
        out.extend_from_slice(&[0x08, 0x01]);
    }
    for (n, v) in bytes {
        if v.is_empty() {
            continue;
        }
        out.push((n << 3 | 2) as u8);
        let mut len = v.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(v);
    }
    out
}

/// One DER element: (tag, contents, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, mut b) = b.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        let mut len = 0usize;
        for _ in 0..n {
            let (&x, rest) = b.split_first()?;
            len = len << 8 | usize::from(x);
            b = rest;
        }
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo.
fn spki_key(der: &[u8]) -> Option<Vec<u8>> {
    let (0x30, body, _) = tlv(der)? else { return None };
    let (0x30, _algorithm, rest) = tlv(body)? else { return None };
    let (0x03, bits, _) = tlv(rest)? else { return None };
    let (0, key) = bits.split_first()? else { return None };
    Some(key.to_vec())
}

fn verify(args: &[u8]) -> Option<Vec<u8>> {
    let f = fields(args)?;
    let hash = String::from_utf8(field(&f, 1)).ok()?.to_ascii_lowercase();
    let key = spki_key(&field(&f, 2))?;
    let (signature, text) = (field(&f, 3), field(&f, 4));
    let ec = key.first() == Some(&4);
    let alg: &dyn sig::VerificationAlgorithm = match (ec, key.len(), hash.as_str()) {
        (true, 65, "sha256") => &sig::ECDSA_P256_SHA256_ASN1,
        (true, 65, "sha384") => &sig::ECDSA_P256_SHA384_ASN1,
        (true, 97, "sha256") => &sig::ECDSA_P384_SHA256_ASN1,
        (true, 97, "sha384") => &sig::ECDSA_P384_SHA384_ASN1,
        (false, _, "sha256") => &sig::RSA_PKCS1_2048_8192_SHA256,
        (false, _, "sha384") => &sig::RSA_PKCS1_2048_8192_SHA384,
        (false, _, "sha512") => &sig::RSA_PKCS1_2048_8192_SHA512,
        _ => return Some(encode(false, &[(2, b"unsupported hash or key")])),
    };
    let ok = UnparsedPublicKey::new(alg, &key).verify(&text, &signature).is_ok();
    Some(if ok { encode(true, &[]) } else { encode(false, &[(2, b"Failed to verify digest. Error code: 0")]) })
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

fn sign(args: &[u8]) -> Option<Vec<u8>> {
    let f = fields(args)?;
    let hash = String::from_utf8(field(&f, 1)).ok()?.to_ascii_lowercase();
    let text = field(&f, 3);
    let der = pem_der(std::str::from_utf8(&field(&f, 4)).ok()?)?;
    let rng = SystemRandom::new();
    if let Ok(pair) = RsaKeyPair::from_pkcs8(&der) {
        let padding: &dyn sig::RsaEncoding = match hash.as_str() {
            "sha256" => &sig::RSA_PKCS1_SHA256,
            "sha384" => &sig::RSA_PKCS1_SHA384,
            "sha512" => &sig::RSA_PKCS1_SHA512,
            _ => return Some(encode(false, &[(3, b"unsupported hash")])),
        };
        let mut out = vec![0u8; pair.public().modulus_len()];
        pair.sign(padding, &rng, &text, &mut out).ok()?;
        return Some(encode(true, &[(2, &out)]));
    }
    for (h, alg) in [("sha256", &sig::ECDSA_P256_SHA256_ASN1_SIGNING), ("sha384", &sig::ECDSA_P384_SHA384_ASN1_SIGNING)] {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(alg, &der, &rng) {
            if h != hash {
                return Some(encode(false, &[(3, b"unsupported hash")]));
            }
            let s = pair.sign(&rng, &text).ok()?;
            return Some(encode(true, &[(2, s.as_ref())]));
        }
    }
    None
}

/// The two functions, and their call counts.
pub fn envoy_crypto() -> (ForeignFn, ForeignFn, Arc<CryptoCalls>) {
    let calls = Arc::new(CryptoCalls::default());
    let (v, s) = (calls.clone(), calls.clone());
    let verify_fn: ForeignFn = Box::new(move |args| {
        v.verify.fetch_add(1, Ordering::SeqCst);
        verify(args)
    });
    let sign_fn: ForeignFn = Box::new(move |args| {
        s.sign.fetch_add(1, Ordering::SeqCst);
        sign(args)
    });
    (verify_fn, sign_fn, calls)
}
