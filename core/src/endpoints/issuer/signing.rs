//! The issuer's key pairs: signing, public JWKs (never a private part), verification keys.

use crate::crypto::{self, CryptoHost, Verdict};
use crate::jwt::keys::{Material, VerifyKey};
use crate::jwt::Alg;
use crate::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};

pub enum KeyPair {
    RS256(Box<RS256KeyPair>),
    ES256(Box<ES256KeyPair>),
    EdDSA(Box<crate::jwt::eddsa::PrivateKey>),
}

pub struct SigningKey {
    pub kid: String,
    pub pair: KeyPair,
    /// The PKCS#8 PEM, for a host that signs (`sign` takes the key with every call).
    pem: Secret,
    /// The public key as DER SubjectPublicKeyInfo (RS256 and ES256).
    spki: Option<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

/// A key pair with its `kid`, when there is one (a client assertion's key may have none).
fn keyed<K>(pair: K, kid: &str, with: fn(K, &str) -> K) -> K {
    if kid.is_empty() {
        pair
    } else {
        with(pair, kid)
    }
}

impl SigningKey {
    pub fn from_pem(alg: &str, pem: &str, kid: String) -> Result<SigningKey, String> {
        let bad = |_| format!("not a valid {alg} private key (PKCS#8 PEM)");
        let pair = match alg {
            "RS256" => KeyPair::RS256(Box::new(keyed(RS256KeyPair::from_pem(pem).map_err(bad)?, &kid, RS256KeyPair::with_key_id))),
            "ES256" => KeyPair::ES256(Box::new(keyed(ES256KeyPair::from_pem(pem).map_err(bad)?, &kid, ES256KeyPair::with_key_id))),
            "EdDSA" => KeyPair::EdDSA(Box::new(crate::jwt::eddsa::private_from_pem(pem).ok_or_else(|| format!("not a valid {alg} private key (PKCS#8 PEM)"))?)),
            other => return Err(format!("unsupported signing algorithm `{other}` (RS256, ES256, EdDSA)")),
        };
        let mut key = SigningKey { kid, pair, pem: Secret::new(pem), spki: None };
        key.spki = key.verify_key().spki;
        Ok(key)
    }

    /// Signs through `host` when it can (RS256, ES256), else in the filter.
    pub fn sign(&self, claims: JWTClaims<Map<String, Value>>, host: Option<&dyn CryptoHost>) -> Result<String, String> {
        if let Some(token) = host.and_then(|h| self.sign_hosted(&claims, h)) {
            return Ok(token);
        }
        let r = match &self.pair {
            KeyPair::RS256(k) => k.sign(claims),
            KeyPair::ES256(k) => k.sign(claims),
            KeyPair::EdDSA(k) => {
                let input = self.signing_input(Alg::EdDSA, &claims).ok_or("signing failed")?;
                let sig = k.sign(input.as_bytes());
                return Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)));
            }
        };
        r.map_err(|_| "signing failed".to_string())
    }

    /// The JWS signed by the host, checked by the host before it is handed out; None when
    /// the host cannot sign with this key or its signature does not verify.
    fn sign_hosted(&self, claims: &JWTClaims<Map<String, Value>>, host: &dyn CryptoHost) -> Option<String> {
        let alg = match self.pair {
            KeyPair::RS256(_) => Alg::RS256,
            KeyPair::ES256(_) => Alg::ES256,
            KeyPair::EdDSA(_) => return None,
        };
        let spki = self.spki.as_deref()?;
        let input = self.signing_input(alg, claims)?;
        let sig = crypto::sign_jws(host, alg, self.pem.expose(), input.as_bytes())?;
        let ok = crypto::verify_jws(host, alg, spki, &sig, input.as_bytes()) == Verdict::Valid;
        ok.then(|| format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig)))
    }

    /// `header.payload` of a JWS signed by this key, as jwt-simple writes them.
    fn signing_input(&self, alg: Alg, claims: &JWTClaims<Map<String, Value>>) -> Option<String> {
        let mut header = Map::new();
        header.insert("alg".into(), json!(alg.name()));
        header.insert("typ".into(), json!("JWT"));
        if !self.kid.is_empty() {
            header.insert("kid".into(), json!(self.kid));
        }
        let header = Value::Object(header);
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        Some(format!("{}.{}", b(header.to_string().as_bytes()), b(&serde_json::to_vec(claims).ok()?)))
    }

    /// The public JWK (RFC 7517), with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Value {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let kid = self.kid.as_str();
        match &self.pair {
            KeyPair::RS256(k) => {
                let c = k.public_key().to_components();
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b(&c.n), "e": b(&c.e)})
            }
            KeyPair::ES256(k) => {
                // The SPKI DER of a P-256 key ends with the uncompressed point 04 ‖ x ‖ y.
                let der = k.public_key().to_der().unwrap_or_default();
                let point = der.get(der.len().saturating_sub(65)..).unwrap_or(&[]);
                let (x, y) = (point.get(1..33).unwrap_or(&[]), point.get(33..65).unwrap_or(&[]));
                json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b(x), "y": b(y)})
            }
            KeyPair::EdDSA(k) => {
                json!({"kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b(k.public().as_bytes())})
            }
        }
    }

    /// The key that verifies what this one signs.
    pub fn verify_key(&self) -> VerifyKey {
        let kid = Some(self.kid.clone());
        match &self.pair {
            KeyPair::RS256(k) => VerifyKey::new(kid, Alg::RS256, Material::RS256(k.public_key())),
            KeyPair::ES256(k) => VerifyKey::new(kid, Alg::ES256, Material::ES256(k.public_key())),
            KeyPair::EdDSA(k) => VerifyKey::new(kid, Alg::EdDSA, Material::EdDSA(Box::new(crate::jwt::eddsa::PublicKey::new(*k.public())))),
        }
    }
}
