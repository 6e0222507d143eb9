//! JWS algorithms the filter verifies (RFC 7518 names, plus EdDSA from RFC 8037).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    pub const RSA: [Alg; 6] = [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512];

    /// Exact, case-sensitive names as RFC 7515 requires; "none" is never an Alg.
    pub fn parse(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }
}

/// A set of algorithms as a bit mask: cheap to copy and to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgSet(u16);

impl AlgSet {
    pub fn all() -> Self {
        AlgSet::from_iter(Alg::ALL)
    }

    pub fn contains(self, alg: Alg) -> bool {
        self.0 & (1 << alg as u16) != 0
    }
}

impl FromIterator<Alg> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Alg>>(iter: I) -> Self {
        AlgSet(iter.into_iter().fold(0, |m, a| m | (1 << a as u16)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_an_alg() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.name()), Some(a));
        }
        for n in ["none", "None", "NONE", "nOnE", "hs256", "", "RS1"] {
            assert_eq!(Alg::parse(n), None);
        }
    }

    #[test]
    fn sets() {
        let s: AlgSet = [Alg::RS256, Alg::EdDSA].into_iter().collect();
        assert!(s.contains(Alg::RS256) && s.contains(Alg::EdDSA) && !s.contains(Alg::HS256));
        assert!(Alg::ALL.iter().all(|a| AlgSet::all().contains(*a)));
    }
}
