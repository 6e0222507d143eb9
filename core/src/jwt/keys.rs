//! Verification keys: from the Janus `settings` list, the legacy `{"secret": …}`, PEM public
//! keys and JWKS documents. Each key is bound to exactly one algorithm, so a key of one type
//! can never be used as another (no RS/HS confusion).

use super::alg::Alg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};

/// Shortest HMAC secret accepted (jwt-simple refuses shorter ones when verifying).
pub const MIN_HMAC_SECRET: usize = 12;

pub enum Material {
    /// An HMAC secret for HS256/384/512 (the algorithm is the key's `alg`), from raw bytes (a
    /// JWKS `oct` key need not be text); `hmac` checks every length in one pass.
    Hmac(HmacSecret),
    RS256(RS256PublicKey),
    RS384(RS384PublicKey),
    RS512(RS512PublicKey),
    PS256(PS256PublicKey),
    PS384(PS384PublicKey),
    PS512(PS512PublicKey),
    ES256(ES256PublicKey),
    ES384(ES384PublicKey),
    /// Checked by `eddsa` (curve25519-dalek), never by jwt-simple.
    EdDSA(Box<super::eddsa::PublicKey>),
}

/// An RSA key as its check needs it: the public key, the digest and the padding (PKCS#1 v1.5
/// for RS*, PSS for PS*).
pub struct RsaCheck<'a> {
    pub key: &'a RSAPublicKey,
    pub digest: superboring::hash::MessageDigest,
    pub padding: superboring::rsa::Padding,
}

impl Material {
    /// The RSA key of an RS* or PS* key, whatever its algorithm; None for the others.
    pub fn rsa(&self) -> Option<RsaCheck<'_>> {
        fn check<K: RSAPublicKeyLike>(k: &K) -> RsaCheck<'_> {
            RsaCheck { key: k.public_key(), digest: K::hash(), padding: k.padding_scheme() }
        }
        match self {
            Material::RS256(k) => Some(check(k)),
            Material::RS384(k) => Some(check(k)),
            Material::RS512(k) => Some(check(k)),
            Material::PS256(k) => Some(check(k)),
            Material::PS384(k) => Some(check(k)),
            Material::PS512(k) => Some(check(k)),
            Material::Hmac(_) | Material::ES256(_) | Material::ES384(_) | Material::EdDSA(_) => None,
        }
    }
}

/// One key usable for one algorithm, with the `kid` it is known by (if any).
pub struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Alg,
    pub material: Material,
    /// The public key as DER SubjectPublicKeyInfo, for the algorithms a host can verify.
    pub spki: Option<Vec<u8>>,
}

/// An HMAC secret, ready to check with (its padded blocks absorbed); never printed.
pub struct HmacSecret {
    len: usize,
    pub prepared: super::hmac::Prepared,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({}, kid={:?})", self.alg.name(), self.kid)
    }
}

impl VerifyKey {
    pub fn new(kid: Option<String>, alg: Alg, material: Material) -> VerifyKey {
        let spki = match &material {
            Material::RS256(k) => k.to_der().ok(),
            Material::RS384(k) => k.to_der().ok(),
            Material::RS512(k) => k.to_der().ok(),
            Material::ES256(k) => k.to_der().ok(),
            Material::ES384(k) => k.to_der().ok(),
            _ => None,
        };
        VerifyKey { kid, alg, material, spki }
    }

    /// The key as one kept to check many tokens with: an EdDSA key gets its table
    /// (`eddsa::PublicKey::keep`).
    pub fn kept(mut self) -> VerifyKey {
        if let Material::EdDSA(k) = &mut self.material {
            k.keep();
        }
        self
    }

    /// An HMAC key whose secret is shorter than jwt-simple and RFC 7518 want (Janus takes them).
    pub fn is_short_hmac(&self) -> bool {
        matches!(&self.material, Material::Hmac(s) if s.len < MIN_HMAC_SECRET)
    }

    /// From a Janus setting: an HMAC secret for HS*, a PEM public key for the others.
    pub fn from_setting(alg: Alg, key: &str, kid: Option<String>) -> Result<VerifyKey, String> {
        let looks_pem = key.trim_start().starts_with("-----BEGIN");
        let material = if alg.is_hmac() {
            if looks_pem {
                return Err(format!("{} needs a shared secret, not a PEM key", alg.name()));
            }
            if key.is_empty() {
                return Err("an HMAC secret must not be empty".into());
            }
            // Janus takes secrets shorter than MIN_HMAC_SECRET; the compiler warns once.
            hmac(alg, key.as_bytes())?
        } else {
            if !looks_pem {
                return Err(format!("{} needs a PEM public key", alg.name()));
            }
            from_pem(alg, key.trim())?
        };
        Ok(VerifyKey::new(kid, alg, material).kept())
    }
}

fn hmac(alg: Alg, secret: &[u8]) -> Result<Material, String> {
    match super::hmac::Prepared::new(alg, secret) {
        Some(prepared) => Ok(Material::Hmac(HmacSecret { len: secret.len(), prepared })),
        None => Err(format!("{} is not an HMAC algorithm", alg.name())),
    }
}

fn from_pem(alg: Alg, pem: &str) -> Result<Material, String> {
    let bad = |_| format!("not a valid {} public key", alg.name());
    Ok(match alg {
        Alg::RS256 => Material::RS256(RS256PublicKey::from_pem(pem).map_err(bad)?),
        Alg::RS384 => Material::RS384(RS384PublicKey::from_pem(pem).map_err(bad)?),
        Alg::RS512 => Material::RS512(RS512PublicKey::from_pem(pem).map_err(bad)?),
        Alg::PS256 => Material::PS256(PS256PublicKey::from_pem(pem).map_err(bad)?),
        Alg::PS384 => Material::PS384(PS384PublicKey::from_pem(pem).map_err(bad)?),
        Alg::PS512 => Material::PS512(PS512PublicKey::from_pem(pem).map_err(bad)?),
        Alg::ES256 => Material::ES256(ES256PublicKey::from_pem(pem).map_err(bad)?),
        Alg::ES384 => Material::ES384(ES384PublicKey::from_pem(pem).map_err(bad)?),
        Alg::EdDSA => {
            let key = super::eddsa::public_from_pem(pem).ok_or_else(|| format!("not a valid {} public key", alg.name()))?;
            Material::EdDSA(Box::new(super::eddsa::PublicKey::new(key)))
        }
        Alg::HS256 | Alg::HS384 | Alg::HS512 => return Err("HMAC keys are not PEM".into()),
    })
}

fn rsa(alg: Alg, n: &[u8], e: &[u8]) -> Result<Material, String> {
    let bad = |_| "not a valid RSA key".to_string();
    Ok(match alg {
        Alg::RS256 => Material::RS256(RS256PublicKey::from_components(n, e).map_err(bad)?),
        Alg::RS384 => Material::RS384(RS384PublicKey::from_components(n, e).map_err(bad)?),
        Alg::RS512 => Material::RS512(RS512PublicKey::from_components(n, e).map_err(bad)?),
        Alg::PS256 => Material::PS256(PS256PublicKey::from_components(n, e).map_err(bad)?),
        Alg::PS384 => Material::PS384(PS384PublicKey::from_components(n, e).map_err(bad)?),
        Alg::PS512 => Material::PS512(PS512PublicKey::from_components(n, e).map_err(bad)?),
        other => return Err(format!("alg {} does not fit kty RSA", other.name())),
    })
}

/// A key set made ready to check many tokens with, replacing `before` (empty for a new set):
/// each EdDSA key gets its table, taken from the same key in `before` when it is there, so a
/// refetched key set that still holds it builds no table again.
pub fn keep_all(keys: &mut [VerifyKey], before: &mut [VerifyKey]) {
    for key in keys {
        let Material::EdDSA(k) = &mut key.material else { continue };
        let same = before.iter_mut().find_map(|b| match &mut b.material {
            Material::EdDSA(old) if old.verifying_key() == k.verifying_key() => Some(old),
            _ => None,
        });
        match same {
            Some(old) => k.keep_from(old),
            None => k.keep(),
        }
    }
}

/// The outcome of reading a JWKS: the usable keys, and one reason per skipped member.
#[derive(Debug, Default)]
pub struct JwksParse {
    pub keys: Vec<VerifyKey>,
    pub skipped: Vec<(usize, String)>,
}

/// Reads a JWKS document (`{"keys": [...]}`). A member that cannot be used is skipped with
/// its reason; the others are kept.
pub fn parse_jwks(doc: &Value) -> Result<JwksParse, String> {
    let members = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "a JWKS needs a `keys` array".to_string())?;
    let mut out = JwksParse::default();
    for (i, member) in members.iter().enumerate() {
        match parse_jwk(member) {
            Ok(mut keys) => out.keys.append(&mut keys),
            Err(reason) => out.skipped.push((i, reason)),
        }
    }
    Ok(out)
}

fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    jwk.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing `{name}`"))
}

fn b64(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text(jwk, name)?.trim_end_matches('='))
        .map_err(|_| format!("`{name}` is not base64url"))
}

/// One JWK → its keys (an RSA key without `alg` serves every RS*/PS* algorithm).
pub fn parse_jwk(member: &Value) -> Result<Vec<VerifyKey>, String> {
    let jwk = member.as_object().ok_or("a JWK must be an object")?;
    if let Some(usage) = jwk.get("use") {
        if usage.as_str() != Some("sig") {
            return Err("not a signature key (`use` is not \"sig\")".into());
        }
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err("`kid` must be a string".into()),
    };
    let alg = match jwk.get("alg") {
        None => None,
        Some(v) => {
            let name = v.as_str().ok_or("`alg` must be a string")?;
            Some(Alg::parse(name).ok_or_else(|| format!("unsupported alg `{name}`"))?)
        }
    };
    let kty = text(jwk, "kty")?;
    let one = |alg: Alg, material: Material| vec![VerifyKey::new(kid.clone(), alg, material)];
    match kty {
        "oct" => {
            let k = b64(jwk, "k")?;
            let alg = alg.ok_or("an `oct` key needs `alg`")?;
            if k.len() < MIN_HMAC_SECRET {
                return Err(format!("`k` needs at least {MIN_HMAC_SECRET} bytes"));
            }
            Ok(one(alg, hmac(alg, &k)?))
        }
        "RSA" => {
            let (n, e) = (b64(jwk, "n")?, b64(jwk, "e")?);
            let algs: Vec<Alg> = match alg {
                Some(a) => vec![a],
                None => Alg::RSA.to_vec(),
            };
            let mut keys = Vec::new();
            for a in algs {
                keys.push(VerifyKey::new(kid.clone(), a, rsa(a, &n, &e)?));
            }
            Ok(keys)
        }
        "EC" => {
            let crv = text(jwk, "crv")?;
            let (x, y) = (b64(jwk, "x")?, b64(jwk, "y")?);
            // Each coordinate is the curve's size exactly (RFC 7518 §6.2.1.2): shorter and longer
            // ones would still add up to a point, another than the members name.
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                _ => 0,
            };
            if size != 0 && (x.len() != size || y.len() != size) {
                return Err(format!("`x` and `y` must be {size} bytes each for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let bad = |_| format!("not a valid {crv} point");
            match (crv, alg) {
                ("P-256", None | Some(Alg::ES256)) => Ok(one(
                    Alg::ES256,
                    Material::ES256(ES256PublicKey::from_bytes(&point).map_err(bad)?),
                )),
                ("P-384", None | Some(Alg::ES384)) => Ok(one(
                    Alg::ES384,
                    Material::ES384(ES384PublicKey::from_bytes(&point).map_err(bad)?),
                )),
                _ => Err(format!("unsupported EC curve/alg `{crv}`")),
            }
        }
        "OKP" => {
            let crv = text(jwk, "crv")?;
            if crv != "Ed25519" || !matches!(alg, None | Some(Alg::EdDSA)) {
                return Err(format!("unsupported OKP curve/alg `{crv}`"));
            }
            let x = b64(jwk, "x")?;
            let key = super::eddsa::key(&x).ok_or("not a valid Ed25519 key")?;
            Ok(one(Alg::EdDSA, Material::EdDSA(Box::new(super::eddsa::PublicKey::new(key)))))
        }
        other => Err(format!("unsupported kty `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn okp(x: &str, kid: &str) -> Vec<VerifyKey> {
        parse_jwk(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid})).unwrap_or_default()
    }

    fn table_of(key: &VerifyKey) -> Option<bool> {
        match &key.material {
            Material::EdDSA(k) => Some(k.has_table()),
            _ => None,
        }
    }

    #[test]
    fn a_refetched_eddsa_key_keeps_its_table() {
        // RFC 8032's TEST 1 and TEST 2 public keys.
        let (one, two) = ("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw");
        let mut first = okp(one, "a");
        assert_eq!(first.first().and_then(table_of), Some(false), "a JWK alone is read without a table");
        keep_all(&mut first, &mut []);
        assert_eq!(first.first().and_then(table_of), Some(true));
        let mut again: Vec<VerifyKey> = okp(one, "a").into_iter().chain(okp(two, "b")).collect();
        keep_all(&mut again, &mut first);
        assert_eq!(again.iter().map(table_of).collect::<Vec<_>>(), [Some(true), Some(true)]);
        assert_eq!(first.first().and_then(table_of), Some(false), "the table moved, not built again");
    }

    #[test]
    fn ec_coordinates_must_have_the_curves_size() {
        let jwk = |x: &[u8], y: &[u8], crv: &str| {
            serde_json::json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
        };
        // Lengths that add up to a P-256 point but are not 32 and 32.
        for (x, y) in [(31usize, 33usize), (33, 31), (0, 64), (32, 31)] {
            let e = parse_jwk(&jwk(&vec![1; x], &vec![2; y], "P-256")).err().unwrap_or_default();
            assert!(e.contains("32 bytes"), "{x}/{y}: {e}");
        }
        let e = parse_jwk(&jwk(&[1; 47], &[2; 49], "P-384")).err().unwrap_or_default();
        assert!(e.contains("48 bytes"), "{e}");
        let e = parse_jwk(&jwk(&[1; 66], &[2; 66], "P-521")).err().unwrap_or_default();
        assert!(e.contains("unsupported"), "{e}");
    }
}
