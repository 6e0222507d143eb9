//! The signature check of one JWS done by the host, then the claims checks jwt-simple does
//! after its own signature check (same order, same outcomes), so a token gets the same answer
//! on either path.

use crate::crypto::{self, CryptoHost, Verdict};
use crate::jwt::Alg;
use crate::Denial;
use crate::common::{b64url, codec};
use crate::Identity;
use serde_json::Value;

/// None when the host could not check the signature (the caller checks it in the VM).
pub fn verify(host: &dyn CryptoHost, alg: Alg, spki: &[u8], token: &str, now: u64, leeway: u64) -> Option<Result<Identity, Denial>> {
    let (signed, payload_b64, signature) = match parts(token) {
        Ok(p) => p,
        Err(d) => return Some(Err(d)),
    };
    match crypto::verify_jws(host, alg, spki, &signature, signed.as_bytes()) {
        Verdict::Unavailable => None,
        Verdict::Invalid => Some(Err(Denial::BadSignature)),
        Verdict::Valid => Some(claims(payload_b64, now, leeway)),
    }
}

/// A compact JWS split for a signature check: the signed part, the payload (base64url) and the
/// decoded signature.
pub(crate) fn parts(token: &str) -> Result<(&str, &str, Vec<u8>), Denial> {
    let (head, payload_b64, sig_b64) = codec::three_parts(token).ok_or(Denial::Malformed)?;
    // The header, its dot and the payload.
    let signed = token.get(..head.len() + 1 + payload_b64.len()).ok_or(Denial::Malformed)?;
    let signature = b64url::decode(sig_b64).ok_or(Denial::Malformed)?;
    Ok((signed, payload_b64, signature))
}

pub(crate) fn claims(payload_b64: &str, now: u64, leeway: u64) -> Result<Identity, Denial> {
    let bytes = b64url::decode(payload_b64).ok_or(Denial::Malformed)?;
    let claims = super::payload::read_owned(bytes).ok_or(Denial::Malformed)?;
    check_times(&claims, now, leeway)?;
    Ok(claims)
}

/// `iat` not in the future, `nbf` reached, `exp` not passed; each with the leeway.
pub fn check_times(id: &Identity, now: u64, leeway: u64) -> Result<(), Denial> {
    let secs = |name: &str| id.claims.get(name).and_then(Value::as_u64);
    if secs("iat").is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(Denial::IssuedInFuture);
    }
    if secs("nbf").is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(Denial::NotYetValid);
    }
    if let Some(exp) = secs("exp") {
        if now < leeway || now - leeway > exp {
            return Err(Denial::Expired);
        }
    }
    Ok(())
}
