//! EdDSA (Ed25519) signatures checked with curve25519-dalek, whose 32-bit field arithmetic
//! suits wasm32 (jwt-simple's Ed25519 multiplies in 128-bit integers, which wasm emulates);
//! then the same claims checks as the other paths.
//!
//! A key kept to check many tokens (a configured key or a fetched key set's) carries a
//! fixed-base table of its negation, as the base point has one: R' = [s]B − [k]A is then two
//! sums of 64 table entries, with 8 doublings in all, where the usual double-base
//! multiplication doubles 253 times. The table costs 30 KB and 256 inversions when the key is
//! read. A DPoP proof's own key is used once and checked the usual way.

use super::header::Jws;
use super::hosted;
use crate::Identity;
use crate::Denial;
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{EdwardsBasepointTable, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use curve25519_dalek::traits::BasepointTable;
use ed25519_dalek::{Signature, VerifyingKey};

/// A public key, with the table of its negation once it is kept.
pub struct PublicKey {
    key: VerifyingKey,
    minus_a: Option<Box<EdwardsBasepointTable>>,
}

impl PublicKey {
    pub fn new(key: VerifyingKey) -> PublicKey {
        PublicKey { key, minus_a: None }
    }

    /// Builds the table (once): for a key that will check many signatures. A small-order key,
    /// which every signature check refuses, gets none.
    pub fn keep(&mut self) {
        if self.minus_a.is_none() && !self.key.is_weak() {
            self.minus_a = Some(Box::new(EdwardsBasepointTable::create(&-self.key.to_edwards())));
        }
    }

    /// Keeps the key with the table `old` (the same key, kept before) had.
    pub fn keep_from(&mut self, old: &mut PublicKey) {
        if self.minus_a.is_none() && old.key == self.key {
            self.minus_a = old.minus_a.take();
        }
        self.keep();
    }

    #[cfg(test)]
    pub fn has_table(&self) -> bool {
        self.minus_a.is_some()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// RFC 8032 §5.1.7 as `VerifyingKey::verify_strict` decides it: canonical S, no small-order
    /// key (a kept key has no table then) or R, and the recomputed R equal to R's encoding. With
    /// a table, R is not decompressed: an encoding that is not a point, or not canonical, never
    /// equals a compressed point, and a small-order R is seen on the recomputed point it equals.
    fn check(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        let Some(table) = &self.minus_a else {
            return self.key.verify_strict(message, &Signature::from_bytes(sig)).is_ok();
        };
        let (Some(r_bytes), Some(s_bytes)) = (sig.first_chunk::<32>(), sig.last_chunk::<32>()) else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*s_bytes)) else {
            return false;
        };
        let mut h = hmac_sha512::Hash::new();
        h.update(r_bytes);
        h.update(self.key.as_bytes());
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize());
        let expected: EdwardsPoint = ED25519_BASEPOINT_TABLE * &s + &**table * &k;
        expected.compress().as_bytes() == r_bytes && !expected.is_small_order()
    }
}

/// The key in dalek's form; None when the bytes are not a point of the curve.
pub fn key(bytes: &[u8]) -> Option<VerifyingKey> {
    let bytes: &[u8; 32] = bytes.try_into().ok()?;
    VerifyingKey::from_bytes(bytes).ok()
}

/// The DER SubjectPublicKeyInfo of an Ed25519 key, before its 32 bytes (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// A PKCS#8 Ed25519 private key, from its algorithm to its 32-byte seed (RFC 8410 §7; v1,
/// or v2 with the public key after the seed).
const PKCS8_ALG: [u8; 12] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, 0x00];

/// The DER inside a PEM block with this label.
fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem.trim().strip_prefix(begin.as_str())?.trim_end().strip_suffix(end.as_str())?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// An Ed25519 public key from its PEM (SubjectPublicKeyInfo).
pub fn public_from_pem(pem: &str) -> Option<VerifyingKey> {
    let der = pem_der(pem, "PUBLIC KEY")?;
    key(der.strip_prefix(SPKI_PREFIX.as_slice())?)
}

/// An Ed25519 private key: its expanded scalar, nonce prefix and public key (RFC 8032 §5.1.5).
pub struct PrivateKey {
    scalar: Scalar,
    prefix: [u8; 32],
    public: VerifyingKey,
}

impl PrivateKey {
    pub fn from_seed(seed: &[u8; 32]) -> Option<PrivateKey> {
        let h = hmac_sha512::Hash::hash(seed);
        let (low, high) = h.split_at(32);
        let scalar = Scalar::from_bytes_mod_order(clamp_integer(low.try_into().ok()?));
        let public = key(EdwardsPoint::mul_base(&scalar).compress().as_bytes())?;
        Some(PrivateKey { scalar, prefix: high.try_into().ok()?, public })
    }

    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }

    /// RFC 8032 §5.1.6, with the base point's constant-time table.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let digest = |parts: &[&[u8]]| {
            let mut h = hmac_sha512::Hash::new();
            for p in parts {
                h.update(p);
            }
            Scalar::from_bytes_mod_order_wide(&h.finalize())
        };
        let r = digest(&[&self.prefix, message]);
        let big_r = EdwardsPoint::mul_base(&r).compress();
        let k = digest(&[big_r.as_bytes(), self.public.as_bytes(), message]);
        let s = r + k * self.scalar;
        let mut sig = [0u8; 64];
        let (left, right) = sig.split_at_mut(32);
        left.copy_from_slice(big_r.as_bytes());
        right.copy_from_slice(s.as_bytes());
        sig
    }
}

/// An Ed25519 private key from its PKCS#8 PEM.
pub fn private_from_pem(pem: &str) -> Option<PrivateKey> {
    let der = pem_der(pem, "PRIVATE KEY")?;
    // SEQUENCE, version 0 or 1, then the algorithm and the seed's OCTET STRING.
    let rest = der.get(2..)?;
    let rest = rest.strip_prefix([0x02, 0x01].as_slice())?.get(1..)?;
    let alg = PKCS8_ALG.get(..11)?;
    let seed: &[u8; 32] = rest.strip_prefix(alg)?.get(..32)?.try_into().ok()?;
    PrivateKey::from_seed(seed)
}

/// Strict verification (RFC 8032 §5.1.7 plus no small-order key or R, canonical S).
pub fn verify(key: &PublicKey, jws: &Jws, now: u64, leeway: u64) -> Result<Identity, Denial> {
    let (signed, payload_b64, sig) = hosted::parts(jws)?;
    let sig: &[u8; 64] = sig.as_slice().try_into().map_err(|_| Denial::BadSignature)?;
    if !key.check(signed.as_bytes(), sig) {
        return Err(Denial::BadSignature);
    }
    hosted::claims(payload_b64, now, leeway)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn signs_rfc8032_test_vectors() {
        // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
        for (seed, public, message, signature) in [
            ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
             "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
             "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
             "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
             "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ] {
            let key = PrivateKey::from_seed(&hex(seed).try_into().unwrap()).unwrap();
            assert_eq!(key.public().as_bytes().to_vec(), hex(public));
            let sig = key.sign(&hex(message));
            assert_eq!(sig.to_vec(), hex(signature));
            key.public().verify_strict(&hex(message), &Signature::from_bytes(&sig)).unwrap();
        }
    }

    #[test]
    fn a_kept_key_decides_as_verify_strict_does() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let private = PrivateKey::from_seed(&seed.try_into().unwrap()).unwrap();
        let mut kept = PublicKey::new(*private.public());
        kept.keep();
        assert_eq!(std::mem::size_of::<EdwardsBasepointTable>(), 30 * 1024);
        let once = PublicKey::new(*private.public());
        let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0";
        let good = private.sign(message);
        let mut cases: Vec<(Vec<u8>, [u8; 64])> = vec![(message.to_vec(), good), (b"other".to_vec(), good)];
        for byte in [0, 5, 31, 32, 40, 63] {
            let mut bad = good;
            bad[byte] ^= 1;
            cases.push((message.to_vec(), bad));
        }
        // S + l: the same point, a non-canonical scalar.
        let l = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut high = good;
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(good[32 + i]) + u16::from(l[i]) + carry;
            high[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        cases.push((message.to_vec(), high));
        // R the identity, in its encoding and in a non-canonical one (y = p + 1), with the S
        // that makes [S]B − [k]A the identity: what a check without the small-order rule takes.
        for r in ["0100000000000000000000000000000000000000000000000000000000000000",
                  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"] {
            let r = hex(r);
            let mut h = hmac_sha512::Hash::new();
            h.update(&r);
            h.update(private.public().as_bytes());
            h.update(message);
            let s = Scalar::from_bytes_mod_order_wide(&h.finalize()) * private.scalar;
            let mut small = [0u8; 64];
            small[..32].copy_from_slice(&r);
            small[32..].copy_from_slice(s.as_bytes());
            cases.push((message.to_vec(), small));
        }
        for (m, sig) in &cases {
            let strict = private.public().verify_strict(m, &Signature::from_bytes(sig)).is_ok();
            assert_eq!(kept.check(m, sig), strict);
            assert_eq!(once.check(m, sig), strict);
        }
        assert!(kept.check(message, &good));
        // A small-order key is refused by both.
        let mut weak = PublicKey::new(key(&hex("0100000000000000000000000000000000000000000000000000000000000000")).unwrap());
        weak.keep();
        assert!(!weak.check(message, &good));
    }

    #[test]
    fn reads_pkcs8_and_spki_pems() {
        // RFC 8410 §10.3's private key and the public key that goes with it.
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";
        let key = private_from_pem(private).unwrap();
        assert_eq!(key.public(), &public_from_pem(public).unwrap());
        assert!(private_from_pem(public).is_none() && public_from_pem(private).is_none());
    }
}
