//! A configuration error names the JSON path of the field and the reason, and nothing else:
//! never the value, which may be a secret.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { path: path.into(), reason: reason.into() }
    }

    /// The same error with the path's prefix `from` written as `to` (a field that was moved
    /// before compiling is named where the user wrote it).
    pub fn rebase(self, from: &str, to: &str) -> Self {
        match self.path.strip_prefix(from) {
            Some(rest) => ConfigError { path: format!("{to}{rest}"), reason: self.reason },
            None => self,
        }
    }

    /// From a serde error at `path`; values quoted in serde's message are cut out.
    pub fn from_serde(path: String, err: &serde_json::Error) -> Self {
        ConfigError::new(if path == "." { "(root)".into() } else { path }, redact(&err.to_string()))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration at `{}`: {}", self.path, self.reason)
    }
}

/// serde quotes offending values ("invalid type: string \"abc\", expected u64"); a value may
/// be a secret, so keep the kind and the expectation only. Field names are kept.
fn redact(text: &str) -> String {
    let text = match text.find(" at line ") {
        Some(at) => text.get(..at).unwrap_or(text),
        None => text,
    };
    if !(text.starts_with("invalid type") || text.starts_with("invalid value")) {
        return text.to_string();
    }
    let quote = text.find(['"', '`']);
    let expected = text.rfind(", expected");
    match (quote, expected) {
        (Some(q), Some(e)) if q < e => {
            format!("{}{}", text.get(..q).unwrap_or("").trim_end(), text.get(e..).unwrap_or(""))
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_out() {
        assert_eq!(
            redact("invalid type: string \"s3cr3t\", expected u64 at line 1 column 9"),
            "invalid type: string, expected u64"
        );
        assert_eq!(
            redact("invalid type: integer `42`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(redact("unknown field `foo`, expected one of `a`, `b`"), "unknown field `foo`, expected one of `a`, `b`");
    }
}
