//! EdDSA (Ed25519) signatures checked with curve25519-dalek, whose 32-bit field arithmetic
//! suits wasm32 (jwt-simple's Ed25519 multiplies in 128-bit integers, which wasm emulates);
//! then the same claims checks as the other paths.

use super::hosted::{self, Claims};
use crate::Denial;
use ed25519_dalek::{Signature, VerifyingKey};

/// The key in dalek's form; None when the bytes are not a point of the curve.
pub fn key(bytes: &[u8]) -> Option<VerifyingKey> {
    let bytes: &[u8; 32] = bytes.try_into().ok()?;
    VerifyingKey::from_bytes(bytes).ok()
}

/// Strict verification (RFC 8032 §5.1.7 plus no small-order key or R, canonical S).
pub fn verify(key: &VerifyingKey, token: &str, now: u64, leeway: u64) -> Result<Claims, Denial> {
    let (signed, payload_b64, sig) = hosted::parts(token)?;
    let sig: &[u8; 64] = sig.as_slice().try_into().map_err(|_| Denial::BadSignature)?;
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(sig)).map_err(|_| Denial::BadSignature)?;
    hosted::claims(payload_b64, now, leeway)
}
