//! DPoP proofs (RFC 9449): a JWS the client signs with the key its access token is bound to,
//! for this request (`htm`, `htu`), this token (`ath`), now (`iat`), once (`jti`). Checked
//! here without I/O; the replay store is the caller's (`WorkerState::first_use`).

use crate::crypto::CryptoHost;
use crate::jwt::keys::{parse_jwk, Material, RsaCheck, VerifyKey};
use crate::jwt::{header, hosted, Alg, AlgSet};
use crate::{Denial, Identity, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// How a server takes DPoP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only Bearer tokens; a DPoP-bound one is refused (it cannot be checked).
    Disabled,
    /// DPoP and unbound Bearer tokens.
    Optional,
    /// DPoP only.
    Required,
}

#[derive(Debug)]
pub struct DpopRules {
    pub mode: Mode,
    /// The algorithms a proof may be signed with.
    pub proof_algs: AlgSet,
    /// How old a proof's `iat` may be.
    pub max_age: u64,
    pub leeway: u64,
    /// The `algs` of the `WWW-Authenticate: DPoP` challenge.
    pub algs: String,
    /// Replay store: `slots` keys under `prefix`.
    pub prefix: String,
    pub slots: u64,
}

pub const DEFAULT_ALGS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];
pub const DEFAULT_MAX_AGE: u64 = 300;
pub const DEFAULT_SLOTS: u64 = 10_000;

/// A proof that checked out: the thumbprint of its key, and where its `jti` is recorded.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub jkt: String,
    pub replay_key: String,
    /// The `jti`'s hash (what the slot holds) and until when it must not come back.
    pub replay_hash: String,
    pub until: u64,
}

fn b64url_sha256(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256::Hash::hash(bytes))
}

/// RFC 7638: the SHA-256 thumbprint of a public JWK's required members, in order.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    let canonical = match s("kty")? {
        "EC" => serde_json::json!({"crv": s("crv")?, "kty": "EC", "x": s("x")?, "y": s("y")?}),
        "RSA" => serde_json::json!({"e": s("e")?, "kty": "RSA", "n": s("n")?}),
        "OKP" => serde_json::json!({"crv": s("crv")?, "kty": "OKP", "x": s("x")?}),
        _ => return None,
    };
    // serde_json's map is ordered by key: the members come out in RFC 7638's order.
    Some(b64url_sha256(canonical.to_string().as_bytes()))
}

/// The request's URL as `htu` names it: scheme, host (lower case, default port dropped) and
/// path, without query or fragment (RFC 9449 §4.3).
pub fn request_htu(req: &Request) -> String {
    let scheme = req.header(":scheme").unwrap_or("https").to_ascii_lowercase();
    let host = req.header(":authority").or_else(|| req.header("host")).unwrap_or("");
    normalize(&format!("{scheme}://{host}{}", req.path()))
}

/// `scheme://host[:port]/path` in lower-case scheme and host, without default port, query
/// and fragment.
pub fn normalize(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    format!("{scheme}://{authority}{path}")
}

impl DpopRules {
    /// Checks the request's one `DPoP` header as the proof for `token`.
    pub fn check(&self, req: &Request, token: &str, now: u64, host: Option<&dyn CryptoHost>) -> Result<Checked, Denial> {
        let mut proofs = req.header_values("dpop");
        let (Some(proof), None) = (proofs.next(), proofs.next()) else { return Err(Denial::DpopProofInvalid) };
        let proof = std::str::from_utf8(proof).map_err(|_| Denial::DpopProofInvalid)?;
        let jwk = embedded_jwk(proof)?;
        let keys = parse_jwk(&Value::Object(jwk.clone())).map_err(|_| Denial::DpopProofInvalid)?;
        let verified = self.verify_signature(proof, &keys, now, host)?;
        let text = |k: &str| verified.claims.get(k).and_then(Value::as_str);
        if text("htm") != Some(req.method()) || text("htu").map(normalize) != Some(request_htu(req)) {
            return Err(Denial::DpopProofInvalid);
        }
        let iat = verified.claims.get("iat").and_then(Value::as_u64).ok_or(Denial::DpopProofInvalid)?;
        if now > iat.saturating_add(self.max_age).saturating_add(self.leeway) || iat > now.saturating_add(self.leeway) {
            return Err(Denial::DpopProofInvalid);
        }
        if text("ath") != Some(b64url_sha256(token.as_bytes()).as_str()) {
            return Err(Denial::DpopProofInvalid);
        }
        let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or(Denial::DpopProofInvalid)?;
        let jkt = thumbprint(&jwk).ok_or(Denial::DpopProofInvalid)?;
        // One digest names the proof (its hash in the slot) and picks its slot.
        let digest = hmac_sha256::Hash::hash(format!("{jkt}\n{jti}").as_bytes());
        // Tagged with the key (the slot's fairness between keys, `record`).
        let hash = format!("{}.{}", jkt.get(..8).unwrap_or(&jkt), URL_SAFE_NO_PAD.encode(digest));
        let slot = u64::from_be_bytes(digest.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8])) % self.slots.max(1);
        Ok(Checked {
            jkt,
            replay_key: format!("{}/{slot}", self.prefix),
            replay_hash: hash,
            until: iat.saturating_add(self.max_age).saturating_add(2 * self.leeway),
        })
    }
}

/// Live proofs one replay slot remembers.
pub const SLOT_ENTRIES: usize = 8;

/// A replay slot as stored (`tag.hash until` lines, the tag naming the proof's key) with the
/// proof `tag.hash` recorded until `until`; Err(DpopReplay) when it is there already, in its
/// window. A live proof is never forgotten to make room for a proof of the same key: a slot
/// full of live proofs refuses a key that holds at least as many of them as any other key.
/// Another key's proof takes the place of the heaviest key's proof that ends soonest, so one
/// key flooding proofs (slots are picked by key and jti) fills no slot against other keys;
/// what it loses is the memory of its own proofs.
pub fn record(stored: &[u8], hash: &str, until: u64, now: u64) -> Result<Vec<u8>, Denial> {
    let text = std::str::from_utf8(stored).unwrap_or("");
    let mut live: Vec<(&str, u64)> = text
        .lines()
        .filter_map(|l| l.split_once(' ').and_then(|(h, u)| Some((h, u.parse::<u64>().ok()?))))
        .filter(|(_, u)| now <= *u)
        .collect();
    if live.iter().any(|(h, _)| *h == hash) {
        return Err(Denial::DpopReplay);
    }
    if live.len() >= SLOT_ENTRIES {
        let tag = |h: &str| h.split_once('.').map_or("", |(t, _)| t).to_string();
        let count = |t: &str| live.iter().filter(|(h, _)| tag(h) == t).count();
        let mine = count(&tag(hash));
        let heaviest = live.iter().map(|(h, _)| tag(h)).max_by_key(|t| count(t)).unwrap_or_default();
        if mine >= count(&heaviest) {
            return Err(Denial::DpopReplay);
        }
        let evict = live.iter().enumerate().filter(|(_, (h, _))| tag(h) == heaviest).min_by_key(|(_, (_, u))| *u).map(|(i, _)| i);
        if let Some(i) = evict {
            live.remove(i);
        }
    }
    live.push((hash, until));
    Ok(live.iter().map(|(h, u)| format!("{h} {u}\n")).collect::<String>().into_bytes())
}

impl DpopRules {
    /// The proof's JOSE header (`typ` `dpop+jwt`, an allowed algorithm, no `crit`, no `zip`)
    /// and its signature by the embedded key: checked by the host where it can (RS*, ES*),
    /// else in the filter (RS* and PS* with jwt-simple's RSA, ES256 with p256, EdDSA with
    /// dalek). jwt-simple cannot read a
    /// JWS whose header holds a JWK object, so it is not used here.
    fn verify_signature(&self, proof: &str, keys: &[VerifyKey], now: u64, host: Option<&dyn CryptoHost>) -> Result<Identity, Denial> {
        let jws = header::Jws::cut(proof).map_err(|_| Denial::DpopProofInvalid)?;
        let head = header::parse(&jws).map_err(|_| Denial::DpopProofInvalid)?;
        let alg = Alg::parse(&head.alg).filter(|a| self.proof_algs.contains(*a)).ok_or(Denial::DpopProofInvalid)?;
        if !head.typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) || head.has_crit || head.has_zip {
            return Err(Denial::DpopProofInvalid);
        }
        let key = keys.iter().find(|k| k.alg == alg).ok_or(Denial::DpopProofInvalid)?;
        let hosted = match (host, &key.spki) {
            (Some(h), Some(spki)) if h.algs().contains(alg) => hosted::verify(h, alg, spki, &jws, now, self.leeway),
            _ => None,
        };
        let verified = match (hosted, &key.material) {
            (Some(r), _) => r,
            (None, Material::EdDSA(k)) => crate::jwt::eddsa::verify(k, &jws, now, self.leeway),
            (None, Material::ES256(k)) => es256(k, &jws, now, self.leeway),
            (None, m) => match m.rsa() {
                Some(k) => rsa(k, &jws, now, self.leeway),
                None => Err(Denial::DpopProofInvalid),
            },
        };
        verified.map_err(|_| Denial::DpopProofInvalid)
    }
}

/// An RSA signature (PKCS#1 v1.5 or PSS, as the key's algorithm says) over a JWS, checked with
/// the RSA code jwt-simple itself uses, without its header parser.
fn rsa(key: RsaCheck<'_>, jws: &header::Jws, now: u64, leeway: u64) -> Result<Identity, Denial> {
    use superboring::{pkey::PKey, sign::Verifier};
    let (signed, payload_b64, sig) = hosted::parts(jws)?;
    let pkey = PKey::from_rsa(key.key.as_ref().clone()).map_err(|_| Denial::BadSignature)?;
    let mut verifier = Verifier::new(key.digest, &pkey).map_err(|_| Denial::BadSignature)?;
    verifier.set_rsa_padding(key.padding).map_err(|_| Denial::BadSignature)?;
    verifier.update(signed.as_bytes()).map_err(|_| Denial::BadSignature)?;
    if !verifier.verify(&sig).map_err(|_| Denial::BadSignature)? {
        return Err(Denial::BadSignature);
    }
    hosted::claims(payload_b64, now, leeway)
}

/// An ES256 signature over a JWS checked with the key's P-256 point (what jwt-simple does
/// inside `verify_token`, without its header parser).
fn es256(key: &jwt_simple::prelude::ES256PublicKey, jws: &header::Jws, now: u64, leeway: u64) -> Result<Identity, Denial> {
    use jwt_simple::prelude::ECDSAP256PublicKeyLike;
    use p256::ecdsa::signature::DigestVerifier;
    let (signed, payload_b64, sig) = hosted::parts(jws)?;
    let sig = p256::ecdsa::Signature::try_from(sig.as_slice()).map_err(|_| Denial::BadSignature)?;
    key.public_key()
        .as_ref()
        .verify_digest(
            |d: &mut hmac_sha256::Hash| {
                d.update(signed.as_bytes());
                Ok(())
            },
            &sig,
        )
        .map_err(|_| Denial::BadSignature)?;
    hosted::claims(payload_b64, now, leeway)
}

/// The public key in the proof's header: an asymmetric JWK without private members.
fn embedded_jwk(proof: &str) -> Result<Map<String, Value>, Denial> {
    let head = proof.split('.').next().ok_or(Denial::DpopProofInvalid)?;
    let bytes = crate::common::b64url::decode(head).ok_or(Denial::DpopProofInvalid)?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| Denial::DpopProofInvalid)?;
    let Some(Value::Object(jwk)) = header.get("jwk") else { return Err(Denial::DpopProofInvalid) };
    let public = matches!(jwk.get("kty").and_then(Value::as_str), Some("EC" | "RSA" | "OKP"));
    let private = ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.contains_key(*m));
    if !public || private {
        return Err(Denial::DpopProofInvalid);
    }
    Ok(jwk.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replay_slot_remembers_its_proofs_for_their_window() {
        let one = record(b"", "h1", 100, 50).unwrap();
        assert_eq!(record(&one, "h1", 100, 60), Err(Denial::DpopReplay));
        assert_eq!(record(&one, "h1", 200, 101).unwrap(), b"h1 200\n", "its window ended");
        let mut slot = one;
        for i in 2..=SLOT_ENTRIES {
            slot = record(&slot, &format!("h{i}"), 100, 60).unwrap();
        }
        assert_eq!(record(&slot, "new", 100, 60), Err(Denial::DpopReplay), "full of its own key's proofs: refused, nothing forgotten early");
        assert!(record(&slot, "new", 300, 101).is_ok(), "room again once they age out");
        assert!(record(b"garbage", "h", 1, 0).is_ok());
    }

    #[test]
    fn a_key_flooding_proofs_fills_no_slot_against_another_key() {
        let mut slot = Vec::new();
        for i in 0..SLOT_ENTRIES {
            slot = record(&slot, &format!("aaaa.p{i}"), 100 + i as u64, 60).unwrap();
        }
        assert_eq!(record(&slot, "aaaa.more", 200, 60), Err(Denial::DpopReplay), "the flooding key is refused");
        let with_b = record(&slot, "bbbb.q1", 200, 60).expect("another key still gets in");
        assert!(!String::from_utf8_lossy(&with_b).contains("aaaa.p0 "), "in place of the flooder's proof that ends soonest");
        assert_eq!(record(&with_b, "bbbb.q1", 200, 61), Err(Denial::DpopReplay), "and its replays are still caught");
        let mut slot = with_b;
        for i in 2..5 {
            slot = record(&slot, &format!("bbbb.q{i}"), 200, 61).unwrap();
        }
        // Now 4 of each: a third key evicts one of the heaviest, neither key can push the other out.
        assert!(record(&slot, "cccc.r1", 200, 62).is_ok());
        assert_eq!(record(&slot, "aaaa.more", 200, 62), Err(Denial::DpopReplay), "a key as heavy as any: refused");
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(thumbprint(json!({"kty": "oct", "k": "x"}).as_object().unwrap()), None);
    }

    #[test]
    fn htu_is_compared_without_query_fragment_or_default_port() {
        assert_eq!(normalize("HTTPS://API.Example.com:443/a/b?x=1#f"), "https://api.example.com/a/b");
        assert_eq!(normalize("http://h:8080/p"), "http://h:8080/p");
        assert_eq!(normalize("http://h:80"), "http://h/");
        let req = Request {
            headers: vec![(":scheme".into(), b"https".to_vec()), (":authority".into(), b"Api.Test:443".to_vec()), (":path".into(), b"/r?q".to_vec())].into(),
            ..Default::default()
        };
        assert_eq!(request_htu(&req), "https://api.test/r");
    }

    #[test]
    fn a_jwk_with_private_members_or_a_symmetric_key_is_refused() {
        let enc = |h: Value| format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(h.to_string()));
        assert!(embedded_jwk(&enc(json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}}))).is_ok());
        assert!(embedded_jwk(&enc(json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}}))).is_err());
        assert!(embedded_jwk(&enc(json!({"jwk": {"kty": "oct", "k": "c"}}))).is_err());
        assert!(embedded_jwk(&enc(json!({"alg": "ES256"}))).is_err());
    }
}
