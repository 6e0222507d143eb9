//! Janus's access-rule predicates, parsed at configuration into the rules' expressions
//! (`rules::Expr`), which the request path evaluates.

use crate::decision::rules::{Expr, Test};
use serde_json::Value;

/// Janus's access-rule predicates, the forms its users write: `claim == 'v'`, `claim != "v"`,
/// `claim in ('a', 'b')`, joined by `&&` and `||` with parentheses; values are strings,
/// numbers, `true`/`false`. Anything else is refused (the caller names the rule).
pub fn parse_janus(src: &str) -> Result<Expr, String> {
    let tokens = lex(src)?;
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err("unexpected text after the predicate".into());
    }
    Ok(e)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Eq,
    Ne,
    In,
    And,
    Or,
    Open,
    Close,
    Comma,
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' => {
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Comma,
                });
                i += 1;
            }
            '=' | '!' | '&' | '|' if next == Some(if c == '!' { '=' } else { c }) => {
                out.push(match c {
                    '=' => Tok::Eq,
                    '!' => Tok::Ne,
                    '&' => Tok::And,
                    _ => Tok::Or,
                });
                i += 2;
            }
            '\'' | '"' => {
                let end = chars.iter().skip(i + 1).position(|&x| x == c).ok_or("unterminated string")?;
                let s: String = chars.iter().skip(i + 1).take(end).collect();
                out.push(Tok::Lit(Value::String(s)));
                i += end + 2;
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let len = chars.iter().skip(i + 1).take_while(|x| x.is_ascii_digit() || **x == '.').count() + 1;
                let s: String = chars.iter().skip(i).take(len).collect();
                let n: Value = serde_json::from_str(&s).map_err(|_| "not a number")?;
                out.push(Tok::Lit(n));
                i += len;
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = chars.iter().skip(i).take_while(|x| x.is_alphanumeric() || **x == '_' || **x == '.' || **x == '-').count();
                let word: String = chars.iter().skip(i).take(len).collect();
                out.push(match word.as_str() {
                    "in" | "IN" => Tok::In,
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    _ => Tok::Ident(word),
                });
                i += len;
            }
            _ => return Err("unsupported operator (only ==, !=, in, && and || are)".into()),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn take(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.joined(Tok::Or, Self::and, Expr::Any)
    }

    fn and(&mut self) -> Result<Expr, String> {
        self.joined(Tok::And, Self::atom, Expr::All)
    }

    /// `next (op next)*`: one operand as it is, several joined by `wrap`.
    fn joined(&mut self, op: Tok, next: fn(&mut Self) -> Result<Expr, String>, wrap: fn(Vec<Expr>) -> Expr) -> Result<Expr, String> {
        let mut list = vec![next(self)?];
        while self.peek() == Some(&op) {
            self.pos += 1;
            list.push(next(self)?);
        }
        Ok(if list.len() == 1 { list.remove(0) } else { wrap(list) })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.take() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.take() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Ident(path)) => match self.take() {
                Some(Tok::Eq) => Ok(Expr::Claim { path, test: Test::Equals(self.literal()?) }),
                Some(Tok::Ne) => Ok(Expr::NotClaim { path, test: Test::Equals(self.literal()?) }),
                Some(Tok::In) => Ok(Expr::Claim { path, test: Test::OneOf(self.list()?) }),
                _ => Err("a claim must be followed by ==, != or in".into()),
            },
            _ => Err("expected a claim name or a parenthesis".into()),
        }
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.take() {
            Some(Tok::Lit(v)) => Ok(v),
            _ => Err("expected a string, number, true or false".into()),
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, String> {
        if self.take() != Some(Tok::Open) {
            return Err("`in` takes a parenthesized list".into());
        }
        let mut out = vec![self.literal()?];
        loop {
            match self.take() {
                Some(Tok::Comma) => out.push(self.literal()?),
                Some(Tok::Close) => return Ok(out),
                _ => return Err("a list is not closed".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::rules::{evaluate, Action, Outcome, Rule};
    use crate::Identity;
    use serde_json::json;

    fn id(v: Value) -> Identity {
        let Value::Object(claims) = v else { panic!("an object") };
        Identity::new(claims)
    }

    #[test]
    fn first_match_wins_and_the_default_follows_the_rules_kind() {
        let who = id(json!({"country": "de", "plan": "free"}));
        let rule = |p: &str, action| Rule { when: parse_janus(p).unwrap(), action };
        let rules = [rule("country == 'de'", Action::Deny), rule("plan == 'free'", Action::Allow)];
        assert_eq!(evaluate(&rules, &who), Outcome::Denied);
        let rules = [rule("plan == 'free'", Action::Allow), rule("country == 'de'", Action::Deny)];
        assert_eq!(evaluate(&rules, &who), Outcome::Allowed);
        assert_eq!(evaluate(&[rule("plan == 'pro'", Action::Allow)], &who), Outcome::Denied, "an allow list");
        assert_eq!(evaluate(&[rule("country == 'fr'", Action::Deny)], &who), Outcome::Allowed, "a deny list");
        assert_eq!(evaluate(&[], &who), Outcome::Allowed);
    }

    #[test]
    fn janus_predicates() {
        let who = id(json!({"country": "de", "plan": "pro", "level": 3, "beta": true, "org": {"name": "acme"}}));
        for (p, want) in [
            ("country == 'de'", true),
            ("country != \"de\"", false),
            ("country in ('fr', 'de')", true),
            ("country == 'de' && plan == 'free'", false),
            ("country == 'fr' || plan == 'pro'", true),
            ("(country == 'fr' || country == 'de') && level == 3", true),
            ("beta == true && org.name == 'acme'", true),
            ("missing != 'x'", true),
        ] {
            assert_eq!(parse_janus(p).unwrap().holds(&who), want, "{p}");
        }
        for bad in ["level > 2", "country =~ 'd.*'", "!beta", "country ==", "(country == 'de'", "country == 'de' extra", "len(country) == 2", "country == 'de"] {
            assert!(parse_janus(bad).is_err(), "{bad}");
        }
    }
}
