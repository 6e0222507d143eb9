//! Why a request is refused: a closed set of reasons, each with its status, RFC 6750 error
//! code and a fixed description. Descriptions never echo request data, so nothing a client
//! sends can reach a response header.

use crate::endpoints::response::LocalResponse;

/// The short name of each reason (logs, metrics) and the names built from it, all fixed
/// strings: nothing is formatted on the request path.
macro_rules! names {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A short name for logs and metrics.
        pub fn name(self) -> &'static str {
            match self { $(Denial::$variant => $name),* }
        }

        /// The counter of this reason (`oauth_filter.denied.<name>`).
        pub fn metric(self) -> &'static str {
            match self { $(Denial::$variant => concat!("oauth_filter.denied.", $name)),* }
        }

        /// The local reply's details for Envoy's access log (`oauth_filter_<name>`).
        pub fn details(self) -> &'static str {
            match self { $(Denial::$variant => concat!("oauth_filter_", $name)),* }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token in any configured source.
    MissingToken,
    /// More than one token (RFC 6750 §2: one method only).
    MultipleTokens,
    TokenTooLarge,
    Malformed,
    UnsupportedCritical,
    /// A `zip` header: compression has no place in a JWS (RFC 7515 leaves it to JWE).
    Compressed,
    /// RFC 9449: the DPoP proof is missing, malformed, or not for this request and token.
    DpopProofInvalid,
    /// The proof's `jti` was seen before.
    DpopReplay,
    /// The proof's key is not the one the token is bound to (`cnf.jkt`).
    DpopKeyMismatch,
    /// A token bound to a key came as Bearer, or the server takes DPoP only.
    DpopRequired,
    /// RFC 8705: the token is bound to another client certificate (or none was presented).
    CertificateMismatch,
    /// The server takes only tokens bound to a client certificate.
    CertificateRequired,
    AlgNone,
    AlgNotAllowed,
    NoMatchingKey,
    /// The policy's OAuth server is not configured (yet: the admin API may add it).
    UnknownServer,
    BadSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    BadIssuer,
    BadAudience,
    MissingClaim,
    /// The JOSE `typ` is not the required one (RFC 9068 `at+jwt`).
    BadType,
    /// No `exp`, and the server requires one (`require_expiration`, the default).
    NoExpiration,
    /// `exp - iat` is longer than the server's `max_lifetime`.
    LifetimeTooLong,
    /// `sub` matches none of the server's `subjects`.
    SubjectNotAllowed,
    /// The token is good but lacks a required scope (403, RFC 6750 §3.1).
    InsufficientScope,
    /// The token is good but holds none of the policy's roles (403).
    MissingRole,
    /// The token is good but the policy's access rules refuse its claims (403).
    RuleDenied,
    /// The keys to check the token cannot be had now (IdP unreachable): 503.
    KeysUnavailable,
    /// Introspection says the token is not active.
    Inactive,
    /// The introspection endpoint could not answer: 503.
    IdpUnavailable,
    /// No token for the upstream could be obtained (client credentials): 503.
    UpstreamTokenUnavailable,
    /// The fleet store (etcd) cannot say now what the decision needs: whether a DPoP proof was
    /// used on another replica, or (before its first read) which servers the admin API added: 503.
    StoreUnavailable,
    /// No policy covers the request.
    NoPolicy,
    /// The host named a policy the configuration does not have.
    UnknownPolicy,
    /// A request to an endpoint the filter answers from its body came with trailers (its
    /// body is decided whole, and never goes on undecided).
    TrailersRefused,
}

impl Denial {
    pub fn status(self) -> u32 {
        match self {
            Denial::MultipleTokens | Denial::TrailersRefused => 400,
            Denial::NoPolicy | Denial::UnknownPolicy | Denial::InsufficientScope | Denial::MissingRole | Denial::RuleDenied => 403,
            Denial::KeysUnavailable | Denial::IdpUnavailable | Denial::UpstreamTokenUnavailable | Denial::StoreUnavailable => 503,
            _ => 401,
        }
    }

    /// Whether the refusal is about a DPoP proof (its challenge is `DPoP`, RFC 9449 §7.1).
    pub fn is_dpop(self) -> bool {
        matches!(self, Denial::DpopProofInvalid | Denial::DpopReplay | Denial::DpopKeyMismatch | Denial::DpopRequired)
    }

    /// The RFC 6750 §3.1 error code, if the challenge carries one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Denial::MissingToken | Denial::NoPolicy | Denial::UnknownPolicy | Denial::KeysUnavailable | Denial::IdpUnavailable
            | Denial::UpstreamTokenUnavailable | Denial::StoreUnavailable => None,
            Denial::MultipleTokens | Denial::TrailersRefused => Some("invalid_request"),
            Denial::InsufficientScope => Some("insufficient_scope"),
            // Not an RFC 6750 code: the token is valid, the claims are refused here.
            Denial::MissingRole | Denial::RuleDenied => Some("access_denied"),
            // RFC 9449 §7.1.
            Denial::DpopProofInvalid | Denial::DpopReplay | Denial::DpopKeyMismatch => Some("invalid_dpop_proof"),
            _ => Some("invalid_token"),
        }
    }

    names! {
            MissingToken => "missing_token",
            MultipleTokens => "multiple_tokens",
            TokenTooLarge => "token_too_large",
            Malformed => "malformed",
            UnsupportedCritical => "unsupported_crit",
            Compressed => "compressed",
            DpopProofInvalid => "dpop_proof_invalid",
            DpopReplay => "dpop_replay",
            DpopKeyMismatch => "dpop_key_mismatch",
            DpopRequired => "dpop_required",
            CertificateMismatch => "certificate_mismatch",
            CertificateRequired => "certificate_required",
            AlgNone => "alg_none",
            AlgNotAllowed => "alg_not_allowed",
            NoMatchingKey => "no_matching_key",
            UnknownServer => "unknown_server",
            BadSignature => "bad_signature",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            IssuedInFuture => "issued_in_future",
            BadIssuer => "bad_issuer",
            BadAudience => "bad_audience",
            MissingClaim => "missing_claim",
            BadType => "bad_type",
            NoExpiration => "no_expiration",
            LifetimeTooLong => "lifetime_too_long",
            SubjectNotAllowed => "subject_not_allowed",
            InsufficientScope => "insufficient_scope",
            MissingRole => "missing_role",
            RuleDenied => "rule_denied",
            KeysUnavailable => "keys_unavailable",
            Inactive => "inactive",
            IdpUnavailable => "idp_unavailable",
            UpstreamTokenUnavailable => "upstream_token_unavailable",
            StoreUnavailable => "store_unavailable",
            NoPolicy => "no_policy",
            UnknownPolicy => "unknown_policy",
            TrailersRefused => "trailers_refused"
    }

    pub fn description(self) -> &'static str {
        match self {
            Denial::MissingToken => "no access token in the request",
            Denial::MultipleTokens => "more than one access token in the request",
            Denial::TokenTooLarge => "the access token is too large",
            Denial::Malformed => "the access token is malformed",
            Denial::UnsupportedCritical => "the token has an unsupported critical header",
            Denial::Compressed => "a compressed (zip) token is not accepted",
            Denial::DpopProofInvalid => "the DPoP proof is missing or invalid for this request",
            Denial::DpopReplay => "the DPoP proof was used before",
            Denial::DpopKeyMismatch => "the DPoP proof is not signed with the key the token is bound to",
            Denial::DpopRequired => "the access token must be presented with a DPoP proof",
            Denial::CertificateMismatch => "the access token is bound to another client certificate",
            Denial::CertificateRequired => "the access token is not bound to a client certificate",
            Denial::AlgNone => "unsigned tokens are not accepted",
            Denial::AlgNotAllowed => "the token's algorithm is not allowed",
            Denial::NoMatchingKey => "no key matches the token's kid and algorithm",
            Denial::UnknownServer => "the policy's OAuth server is not configured",
            Denial::BadSignature => "the token's signature is invalid",
            Denial::Expired => "the access token expired",
            Denial::NotYetValid => "the access token is not valid yet",
            Denial::IssuedInFuture => "the access token was issued in the future",
            Denial::BadIssuer => "the token's issuer is not accepted",
            Denial::BadAudience => "the token's audience is not accepted",
            Denial::MissingClaim => "the token lacks a required claim",
            Denial::BadType => "the token's typ is not accepted",
            Denial::NoExpiration => "the access token has no expiration",
            Denial::LifetimeTooLong => "the access token's lifetime is too long",
            Denial::SubjectNotAllowed => "the token's subject is not accepted",
            Denial::InsufficientScope => "the token lacks a required scope",
            Denial::MissingRole => "the token holds none of the required roles",
            Denial::RuleDenied => "the token's claims are not allowed here",
            Denial::KeysUnavailable => "the keys to check the token cannot be fetched now",
            Denial::Inactive => "the access token is not active",
            Denial::IdpUnavailable => "the token cannot be checked now",
            Denial::UpstreamTokenUnavailable => "no token for the upstream service could be obtained",
            Denial::StoreUnavailable => "the token cannot be checked now",
            Denial::NoPolicy => "no policy covers this request",
            Denial::UnknownPolicy => "the route names an unknown policy",
            Denial::TrailersRefused => "request trailers are not accepted here",
        }
    }

    /// The local reply: status, `WWW-Authenticate` challenge (for 401, 400 and a missing
    /// scope; `scope` is the policy's required scopes) and a JSON body.
    pub fn respond(self, realm: &str, scope: &str) -> LocalResponse {
        let status = self.status();
        let code = self.error_code();
        let mut headers = Vec::with_capacity(3);
        if status == 401 || status == 400 || matches!(self, Denial::InsufficientScope | Denial::MissingRole | Denial::RuleDenied) {
            let mut challenge = match code {
                None => format!("Bearer realm=\"{realm}\""),
                Some(code) => format!(
                    "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                    self.description()
                ),
            };
            if self == Denial::InsufficientScope {
                challenge.push_str(&format!(", scope=\"{scope}\""));
            }
            headers.push(("www-authenticate".to_string(), challenge));
        }
        if status == 503 {
            headers.push(("retry-after".to_string(), "5".to_string()));
        }
        let body_code = code.unwrap_or(match status {
            403 => "access_denied",
            503 => "temporarily_unavailable",
            _ => "unauthorized",
        });
        let body = serde_json::json!({ "error": body_code, "error_description": self.description() });
        LocalResponse::json(status, headers, &body)
    }
}

/// How one policy words its refusals: the realm and required scopes of its Bearer challenge,
/// the algorithms of its DPoP challenge (empty: none), and the body's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    pub realm: String,
    /// The policy's required scopes, space-joined (the `scope` of an insufficient_scope challenge).
    pub scope: String,
    /// The `algs` of a `DPoP` challenge, when a server of the policy takes DPoP.
    pub dpop_algs: String,
    pub shape: ErrorShape,
}

/// The body of a refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// RFC 6749/6750's `{"error": …, "error_description": …}`.
    #[default]
    OAuth,
    /// The description alone, under one member (`error_format: otoroshi`: `Otoroshi-Error`).
    DescriptionUnder(String),
}

impl Refusals {
    /// The local reply refusing a request with `denial`: status and challenges stay what the
    /// denial says whatever the body's shape.
    pub fn render(&self, denial: Denial) -> LocalResponse {
        let mut r = denial.respond(&self.realm, &self.scope);
        if !self.dpop_algs.is_empty() && r.status == 401 {
            // RFC 9449 §7.1: a DPoP challenge beside the Bearer one, or instead of it when the
            // refusal is about the proof.
            let algs = format!("DPoP algs=\"{}\"", self.dpop_algs);
            match denial.error_code() {
                Some(code) if denial.is_dpop() => {
                    let challenge = format!("{algs}, error=\"{code}\", error_description=\"{}\"", denial.description());
                    r.headers.retain(|(k, _)| k != "www-authenticate");
                    r.headers.push(("www-authenticate".into(), challenge));
                }
                _ => r.headers.push(("www-authenticate".into(), algs)),
            }
        }
        if let ErrorShape::DescriptionUnder(member) = &self.shape {
            let mut body = serde_json::Map::new();
            body.insert(member.clone(), serde_json::Value::from(denial.description()));
            r.body = serde_json::Value::Object(body).to_string();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_token_has_a_bare_challenge() {
        let r = Denial::MissingToken.respond("api", "");
        assert_eq!(r.status, 401);
        assert!(r.headers.contains(&("www-authenticate".into(), "Bearer realm=\"api\"".into())));
    }

    #[test]
    fn invalid_token_carries_code_and_description_in_header_and_body() {
        let r = Denial::Expired.respond("api", "");
        assert_eq!(r.status, 401);
        let h = &r.headers.iter().find(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone());
        assert_eq!(
            h.as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token expired\"")
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"], "invalid_token");
    }

    #[test]
    fn insufficient_scope_names_the_scopes() {
        let r = Denial::InsufficientScope.respond("api", "orders:read orders:write");
        assert_eq!(r.status, 403);
        assert!(r.headers.contains(&(
            "www-authenticate".into(),
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"orders:read orders:write\"".into()
        )));
        let r = Denial::KeysUnavailable.respond("api", "");
        assert_eq!(r.status, 503);
        assert!(r.body.contains("temporarily_unavailable"));
    }

    #[test]
    fn descriptions_are_safe_in_a_quoted_string() {
        use Denial::*;
        for d in [MissingToken, MultipleTokens, TokenTooLarge, Malformed, UnsupportedCritical, AlgNone,
            AlgNotAllowed, NoMatchingKey, BadSignature, Expired, NotYetValid, IssuedInFuture,
            BadIssuer, BadAudience, MissingClaim, BadType, NoExpiration, LifetimeTooLong, SubjectNotAllowed, InsufficientScope, MissingRole, RuleDenied, KeysUnavailable, Inactive, IdpUnavailable, UpstreamTokenUnavailable, NoPolicy, UnknownPolicy, TrailersRefused] {
            assert!(!d.description().contains(['"', '\\']));
        }
    }

    #[test]
    fn a_policy_words_its_refusals() {
        let plain = Refusals { realm: "api".into(), scope: "read write".into(), ..Refusals::default() };
        let r = plain.render(Denial::InsufficientScope);
        assert_eq!(r.status, 403);
        assert!(r.headers.iter().any(|(k, v)| k == "www-authenticate" && v.ends_with("scope=\"read write\"")));
        assert!(r.body.contains("\"error\":\"insufficient_scope\""));
        let dpop = Refusals { dpop_algs: "ES256".into(), ..plain.clone() };
        let r = dpop.render(Denial::MissingToken);
        let challenges: Vec<&str> = r.headers.iter().filter(|(k, _)| k == "www-authenticate").map(|(_, v)| v.as_str()).collect();
        assert_eq!(challenges, ["Bearer realm=\"api\"", "DPoP algs=\"ES256\""]);
        let r = dpop.render(Denial::DpopProofInvalid);
        let challenges: Vec<&str> = r.headers.iter().filter(|(k, _)| k == "www-authenticate").map(|(_, v)| v.as_str()).collect();
        assert_eq!(challenges.len(), 1, "about the proof: the DPoP challenge alone");
        assert!(challenges[0].starts_with("DPoP algs=\"ES256\", error=\"invalid_dpop_proof\""));
        let keyed = Refusals { shape: ErrorShape::DescriptionUnder("Otoroshi-Error".into()), ..plain };
        let r = keyed.render(Denial::Expired);
        assert_eq!((r.status, r.body.as_str()), (401, "{\"Otoroshi-Error\":\"the access token expired\"}"));
        assert!(r.headers.iter().any(|(k, _)| k == "www-authenticate"), "the challenge stays");
    }
}
