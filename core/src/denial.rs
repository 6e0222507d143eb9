//! Why a request is refused: a closed set of reasons, each with its status, RFC 6750 error
//! code and a fixed description. Descriptions never echo request data, so nothing a client
//! sends can reach a response header.

use crate::response::LocalResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token in any configured source.
    MissingToken,
    /// More than one token (RFC 6750 §2: one method only).
    MultipleTokens,
    TokenTooLarge,
    Malformed,
    UnsupportedCritical,
    AlgNone,
    AlgNotAllowed,
    NoMatchingKey,
    BadSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    BadIssuer,
    BadAudience,
    MissingClaim,
    /// No policy covers the request.
    NoPolicy,
    /// The host named a policy the configuration does not have.
    UnknownPolicy,
}

impl Denial {
    pub fn status(self) -> u32 {
        match self {
            Denial::MultipleTokens => 400,
            Denial::NoPolicy | Denial::UnknownPolicy => 403,
            _ => 401,
        }
    }

    /// The RFC 6750 §3.1 error code, if the challenge carries one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Denial::MissingToken | Denial::NoPolicy | Denial::UnknownPolicy => None,
            Denial::MultipleTokens => Some("invalid_request"),
            _ => Some("invalid_token"),
        }
    }

    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Denial::MissingToken => "missing_token",
            Denial::MultipleTokens => "multiple_tokens",
            Denial::TokenTooLarge => "token_too_large",
            Denial::Malformed => "malformed",
            Denial::UnsupportedCritical => "unsupported_crit",
            Denial::AlgNone => "alg_none",
            Denial::AlgNotAllowed => "alg_not_allowed",
            Denial::NoMatchingKey => "no_matching_key",
            Denial::BadSignature => "bad_signature",
            Denial::Expired => "expired",
            Denial::NotYetValid => "not_yet_valid",
            Denial::IssuedInFuture => "issued_in_future",
            Denial::BadIssuer => "bad_issuer",
            Denial::BadAudience => "bad_audience",
            Denial::MissingClaim => "missing_claim",
            Denial::NoPolicy => "no_policy",
            Denial::UnknownPolicy => "unknown_policy",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Denial::MissingToken => "no access token in the request",
            Denial::MultipleTokens => "more than one access token in the request",
            Denial::TokenTooLarge => "the access token is too large",
            Denial::Malformed => "the access token is malformed",
            Denial::UnsupportedCritical => "the token has an unsupported critical header",
            Denial::AlgNone => "unsigned tokens are not accepted",
            Denial::AlgNotAllowed => "the token's algorithm is not allowed",
            Denial::NoMatchingKey => "no key matches the token's kid and algorithm",
            Denial::BadSignature => "the token's signature is invalid",
            Denial::Expired => "the access token expired",
            Denial::NotYetValid => "the access token is not valid yet",
            Denial::IssuedInFuture => "the access token was issued in the future",
            Denial::BadIssuer => "the token's issuer is not accepted",
            Denial::BadAudience => "the token's audience is not accepted",
            Denial::MissingClaim => "the token lacks a required claim",
            Denial::NoPolicy => "no policy covers this request",
            Denial::UnknownPolicy => "the route names an unknown policy",
        }
    }

    /// The local reply: status, `WWW-Authenticate` challenge (for 401 and 400) and a JSON body.
    pub fn respond(self, realm: &str) -> LocalResponse {
        let status = self.status();
        let code = self.error_code();
        let mut headers = Vec::with_capacity(2);
        if status == 401 || status == 400 {
            let challenge = match code {
                None => format!("Bearer realm=\"{realm}\""),
                Some(code) => format!(
                    "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                    self.description()
                ),
            };
            headers.push(("www-authenticate".to_string(), challenge));
        }
        let body_code = code.unwrap_or(if status == 403 { "access_denied" } else { "unauthorized" });
        let body = serde_json::json!({ "error": body_code, "error_description": self.description() });
        LocalResponse::json(status, headers, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_token_has_a_bare_challenge() {
        let r = Denial::MissingToken.respond("api");
        assert_eq!(r.status, 401);
        assert!(r.headers.contains(&("www-authenticate".into(), "Bearer realm=\"api\"".into())));
    }

    #[test]
    fn invalid_token_carries_code_and_description_in_header_and_body() {
        let r = Denial::Expired.respond("api");
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
    fn descriptions_are_safe_in_a_quoted_string() {
        use Denial::*;
        for d in [MissingToken, MultipleTokens, TokenTooLarge, Malformed, UnsupportedCritical, AlgNone,
            AlgNotAllowed, NoMatchingKey, BadSignature, Expired, NotYetValid, IssuedInFuture,
            BadIssuer, BadAudience, MissingClaim, NoPolicy, UnknownPolicy] {
            assert!(!d.description().contains(['"', '\\']));
        }
    }
}
