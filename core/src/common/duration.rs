//! Durations in the configuration: "500ms", "10s", "10m", "24h", or a number of seconds.

use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;

/// A configured duration, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub u64);

impl Millis {
    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    pub fn from_secs(s: u64) -> Millis {
        Millis(s.saturating_mul(1000))
    }
}

pub fn parse(text: &str) -> Option<Millis> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor).map(Millis)
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().map(Millis::from_secs).ok_or_else(|| D::Error::custom("expected a non-negative number of seconds")),
            Value::String(s) => parse(&s).ok_or_else(|| D::Error::custom("expected a duration such as \"500ms\", \"10s\", \"10m\" or \"24h\"")),
            _ => Err(D::Error::custom("expected a duration such as \"10s\" or a number of seconds")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("500ms"), Some(Millis(500)));
        assert_eq!(parse("10s"), Some(Millis(10_000)));
        assert_eq!(parse("10m"), Some(Millis(600_000)));
        assert_eq!(parse("24h"), Some(Millis(86_400_000)));
        assert_eq!(parse("7"), Some(Millis(7000)));
        for bad in ["", "s", "1d", "-1s", "1.5s", "99999999999999999999h"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let m: Millis = serde_json::from_str("30").unwrap();
        assert_eq!(m, Millis(30_000));
        assert!(serde_json::from_str::<Millis>("true").is_err());
    }
}
