//! Base64url without padding (RFC 4648 §5), decoded as the `base64` crate's `URL_SAFE_NO_PAD`
//! decodes it (no `=`, no other alphabet, a length of 4n+1 refused, unused trailing bits
//! zero) in one table lookup per character: a JWT's three parts are decoded on every
//! first-seen token, the signature the longest of them.

const INVALID: u8 = 0xff;

// Built at compile time: an index out of range would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn six(b: u8) -> u32 {
    u32::from(TABLE.get(usize::from(b)).copied().unwrap_or(INVALID))
}

/// The bytes `s` encodes, or None where `URL_SAFE_NO_PAD.decode` gives an error.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let input = s.as_bytes();
    let (whole, rest) = (input.len() / 4, input.len() % 4);
    let tail = match rest {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return None,
    };
    // Zeroed at once (one `memory.fill`), then each group of four characters written into
    // its three bytes: a push per group was a call of its own, with its capacity check.
    let mut out = vec![0u8; whole * 3 + tail];
    let mut bad = 0u32;
    for (from, to) in input.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let (&[a, b, c, d], [x, y, z]) = (from, to) else { return None };
        let (a, b, c, d) = (six(a), six(b), six(c), six(d));
        bad |= a | b | c | d;
        let n = a << 18 | b << 12 | c << 6 | d;
        (*x, *y, *z) = ((n >> 16) as u8, (n >> 8) as u8, n as u8);
    }
    // An invalid character is 0xff, every valid one below 64.
    if bad > 63 {
        return None;
    }
    let last = out.get_mut(whole * 3..).unwrap_or_default();
    match (input.get(whole * 4..).unwrap_or_default(), last) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (six(*a), six(*b));
            if (a | b) > 63 || b & 0x0f != 0 {
                return None;
            }
            *x = (a << 2 | b >> 4) as u8;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (six(*a), six(*b), six(*c));
            if (a | b | c) > 63 || c & 0x03 != 0 {
                return None;
            }
            (*x, *y) = ((a << 2 | b >> 4) as u8, (b << 4 | c >> 2) as u8);
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn same(s: &str) {
        assert_eq!(decode(s), URL_SAFE_NO_PAD.decode(s).ok(), "{s:?}");
    }

    #[test]
    fn every_short_string_over_the_edges_of_the_alphabet() {
        let chars = ['A', 'B', 'Q', 'g', 'w', '_', '-', '9', '=', '+', '/', '.', 'é'];
        let mut words = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for w in &words {
                same(w);
                for c in chars {
                    next.push(format!("{w}{c}"));
                }
            }
            words = next;
        }
        words.iter().for_each(|w| same(w));
    }

    #[test]
    fn long_strings_and_one_bad_character_anywhere() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 }).collect();
            let good = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(decode(&good).as_deref(), Some(&bytes[..]));
            for bad in ['=', '+', '/', ' ', '\0'] {
                let at = (x as usize) % good.len().max(1);
                let mut s: String = good.clone();
                if at < s.len() {
                    s.replace_range(at..at + 1, &bad.to_string());
                    same(&s);
                }
            }
        }
    }
}
