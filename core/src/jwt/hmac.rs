//! HMAC checks, for every secret: those shorter than jwt-simple takes (1 to 11 bytes; Janus
//! accepts them — its own example secret is `secret` — so a carried-over configuration keeps
//! working, and the server is named in a configure-time warning, never the key) and the others,
//! in one pass over the token. The MAC is compared in constant time, then the same claims
//! checks as on the other paths.

use super::hosted;
use crate::Identity;
use super::Alg;
use crate::Denial;

pub fn verify(alg: Alg, secret: &[u8], token: &str, now: u64, leeway: u64) -> Result<Identity, Denial> {
    let (signed, payload_b64, sig) = hosted::parts(token)?;
    let input = signed.as_bytes();
    let valid = match alg {
        Alg::HS256 => <&[u8; 32]>::try_from(sig.as_slice()).is_ok_and(|s| hmac_sha256::HMAC::verify(input, secret, s)),
        Alg::HS384 => <&[u8; 48]>::try_from(sig.as_slice()).is_ok_and(|s| hmac_sha512::sha384::HMAC::verify(input, secret, s)),
        Alg::HS512 => <&[u8; 64]>::try_from(sig.as_slice()).is_ok_and(|s| hmac_sha512::HMAC::verify(input, secret, s)),
        _ => false,
    };
    if !valid {
        return Err(Denial::BadSignature);
    }
    hosted::claims(payload_b64, now, leeway)
}
