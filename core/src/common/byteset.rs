//! A set of bytes, looked up in a few operators: the first bytes of the header names the
//! spoofed-header check must read further (`Config::spoof_first`).

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// The bytes for which `f` holds.
    pub fn of(f: impl Fn(u8) -> bool) -> ByteSet {
        let mut set = ByteSet::default();
        for b in (0..=u8::MAX).filter(|b| f(*b)) {
            if let Some(w) = set.0.get_mut(usize::from(b >> 6)) {
                *w |= 1 << (b & 63);
            }
        }
        set
    }

    pub fn contains(&self, b: u8) -> bool {
        self.0.get(usize::from(b >> 6)).is_some_and(|w| (w >> (b & 63)) & 1 == 1)
    }
}

/// A header name's byte as the spoofed-header check reads it: lower-case, `_` read as `-`.
pub fn dashed(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_its_bytes() {
        let set = ByteSet::of(|b| b % 7 == 3 || b == 255 || b == 0);
        assert!((0..=u8::MAX).all(|b| set.contains(b) == (b % 7 == 3 || b == 255 || b == 0)));
        assert_eq!(dashed(b'_'), b'-');
        assert_eq!(dashed(b'X'), b'x');
    }
}
