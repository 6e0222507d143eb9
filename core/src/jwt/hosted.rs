//! The signature check of one JWS done by the host, then the claims checks jwt-simple does
//! after its own signature check (same order, same outcomes), so a token gets the same answer
//! on either path.

use crate::crypto::{self, CryptoHost, Verdict};
use crate::jwt::Alg;
use crate::Denial;
use crate::common::b64url;
use crate::jwt::header::Jws;
use crate::Identity;

/// None when the host could not check the signature (the caller checks it in the VM).
pub fn verify(host: &dyn CryptoHost, alg: Alg, spki: &[u8], jws: &Jws, now: u64, leeway: u64) -> Option<Result<Identity, Denial>> {
    let (signed, payload_b64, signature) = match parts(jws) {
        Ok(p) => p,
        Err(d) => return Some(Err(d)),
    };
    match crypto::verify_jws(host, alg, spki, &signature, signed.as_bytes()) {
        Verdict::Unavailable => None,
        Verdict::Invalid => Some(Err(Denial::BadSignature)),
        Verdict::Valid => Some(claims(payload_b64, now, leeway)),
    }
}

/// What a signature check reads of a JWS: the signed part, the payload (base64url) and the
/// decoded signature.
pub(crate) fn parts<'a>(jws: &Jws<'a>) -> Result<(&'a str, &'a str, Vec<u8>), Denial> {
    let signature = b64url::decode(jws.signature).ok_or(Denial::Malformed)?;
    Ok((jws.signed, jws.payload, signature))
}

pub(crate) fn claims(payload_b64: &str, now: u64, leeway: u64) -> Result<Identity, Denial> {
    let bytes = b64url::decode(payload_b64).ok_or(Denial::Malformed)?;
    let claims = super::payload::read_owned(bytes).ok_or(Denial::Malformed)?;
    check_times(&claims, now, leeway)?;
    Ok(claims)
}

/// `iat` not in the future, `nbf` reached, `exp` not passed; each with the leeway.
pub fn check_times(id: &Identity, now: u64, leeway: u64) -> Result<(), Denial> {
    let [iat, exp, nbf] = id.claims.times();
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(Denial::IssuedInFuture);
    }
    if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(Denial::NotYetValid);
    }
    if let Some(exp) = exp {
        if now < leeway || now - leeway > exp {
            return Err(Denial::Expired);
        }
    }
    Ok(())
}
