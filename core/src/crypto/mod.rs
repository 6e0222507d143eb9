//! Signature checks and signing done by the host (Envoy's BoringSSL through the
//! `verify_signature` and `sign` foreign functions) instead of pure Rust in the VM.
//!
//! The core only decides: which algorithms may go to the host (those that passed a probe at
//! configure time), how a JWS signature maps onto what the host takes (hash name, DER), and how
//! the arguments and answers are encoded. The adapter only makes the call.

pub mod der;
pub mod probe;
mod probe_vectors;
pub mod proto;

use crate::jwt::{Alg, AlgSet};

/// What the host said about one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    /// The host could not check it (no such function, an error status, an unreadable answer):
    /// the caller checks the signature itself.
    Unavailable,
}

/// A host that verifies and signs. `algs` are the algorithms it may be asked about (those
/// that passed the probe); the others never reach it.
pub trait CryptoHost {
    fn algs(&self) -> AlgSet;
    /// Verifies `signature` (DER for ECDSA, as the host wants it) over `text`.
    fn verify(&self, hash: &str, public_key_der: &[u8], signature: &[u8], text: &[u8]) -> Verdict;
    /// Signs `text` with a PEM private key; the signature as the host gives it (DER for ECDSA).
    fn sign(&self, _hash: &str, _private_key_pem: &str, _text: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// The hash function the host is asked for, for the algorithms the host can check:
/// RSASSA-PKCS1-v1_5 and ECDSA. PS* (PSS padding), EdDSA and HMAC stay in the VM.
pub fn hash_name(alg: Alg) -> Option<&'static str> {
    match alg {
        Alg::RS256 | Alg::ES256 => Some("sha256"),
        Alg::RS384 | Alg::ES384 => Some("sha384"),
        Alg::RS512 => Some("sha512"),
        _ => None,
    }
}

/// Length of one ECDSA scalar in a JWS signature (R‖S), for the ECDSA algorithms.
pub fn ecdsa_scalar_len(alg: Alg) -> Option<usize> {
    match alg {
        Alg::ES256 => Some(32),
        Alg::ES384 => Some(48),
        _ => None,
    }
}

/// Algorithms a host may take over.
pub fn host_capable() -> AlgSet {
    [Alg::RS256, Alg::RS384, Alg::RS512, Alg::ES256, Alg::ES384].into_iter().collect()
}

/// Verifies a JWS signature (as it appears in the token, R‖S for ECDSA) through the host.
pub fn verify_jws(host: &dyn CryptoHost, alg: Alg, spki: &[u8], signature: &[u8], text: &[u8]) -> Verdict {
    let Some(hash) = hash_name(alg) else { return Verdict::Unavailable };
    if !host.algs().contains(alg) {
        return Verdict::Unavailable;
    }
    match ecdsa_scalar_len(alg) {
        Some(n) => match der::raw_to_der(signature, n) {
            Some(sig) => host.verify(hash, spki, &sig, text),
            // Not R‖S of the right length: no signature of this key.
            None => Verdict::Invalid,
        },
        None => host.verify(hash, spki, signature, text),
    }
}

/// Signs through the host; the JWS form (R‖S for ECDSA). None when the host cannot.
pub fn sign_jws(host: &dyn CryptoHost, alg: Alg, private_key_pem: &str, text: &[u8]) -> Option<Vec<u8>> {
    let hash = hash_name(alg)?;
    if !host.algs().contains(alg) {
        return None;
    }
    let sig = host.sign(hash, private_key_pem, text)?;
    match ecdsa_scalar_len(alg) {
        Some(n) => der::der_to_raw(&sig, n),
        None => Some(sig),
    }
}
