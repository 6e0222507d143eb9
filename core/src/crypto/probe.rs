//! Which algorithms a host verifies correctly: each is tried once, at configure time, with a
//! known-good and a tampered signature; only those answered right (valid, then invalid) go to
//! the host afterwards. A host without the function, or one that errs, gets none.

use super::{probe_vectors::VECTORS, CryptoHost, Verdict};
use crate::jwt::keys::parse_jwk;
use crate::jwt::{Alg, AlgSet};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The algorithms `host` passed. `host.algs()` must offer every candidate while probing.
pub fn probe(host: &dyn CryptoHost) -> AlgSet {
    VECTORS.iter().filter(|(alg, jwk, token)| passes(host, *alg, jwk, token)).map(|(alg, _, _)| *alg).collect()
}

fn passes(host: &dyn CryptoHost, alg: Alg, jwk: &str, token: &str) -> bool {
    let Ok(jwk) = serde_json::from_str(jwk) else { return false };
    let Ok(keys) = parse_jwk(&jwk) else { return false };
    let Some(spki) = keys.iter().find(|k| k.alg == alg).and_then(|k| k.spki.clone()) else { return false };
    let Some((signed, sig_b64)) = token.rsplit_once('.') else { return false };
    let Ok(good) = URL_SAFE_NO_PAD.decode(sig_b64) else { return false };
    let mut bad = good.clone();
    if let Some(b) = bad.get_mut(good.len() / 2) {
        *b ^= 0x01;
    }
    super::verify_jws(host, alg, &spki, &good, signed.as_bytes()) == Verdict::Valid
        && super::verify_jws(host, alg, &spki, &bad, signed.as_bytes()) == Verdict::Invalid
}
