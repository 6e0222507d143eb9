//! Byte strings compared a word at a time. In the .wasm a byte-by-byte loop costs about 17
//! wasm operators a byte (wasi-libc's `memcmp`, behind every slice and string `==`) and 55
//! with ASCII case ignored (a token's scheme), on every request.

/// `memcmp` of two strings of one length: 0 when equal, else the sign of the difference of
/// their first differing bytes (as C's `memcmp`; the adapter's `memcmp` for the .wasm).
pub fn compare(a: &[u8], b: &[u8]) -> i32 {
    let ((a8, a_rest), (b8, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    for (x, y) in a8.iter().zip(b8) {
        let (x, y) = (u64::from_le_bytes(*x), u64::from_le_bytes(*y));
        if x != y {
            // Little-endian: the first differing byte is the lowest differing one.
            let shift = (x ^ y).trailing_zeros() & !7;
            return i32::from((x >> shift) as u8) - i32::from((y >> shift) as u8);
        }
    }
    let ((a4, a_rest), (b4, b_rest)) = (a_rest.as_chunks::<4>(), b_rest.as_chunks::<4>());
    if let (Some(x), Some(y)) = (a4.first(), b4.first()) {
        let (x, y) = (u32::from_le_bytes(*x), u32::from_le_bytes(*y));
        if x != y {
            let shift = (x ^ y).trailing_zeros() & !7;
            return i32::from((x >> shift) as u8) - i32::from((y >> shift) as u8);
        }
    }
    for (p, q) in a_rest.iter().zip(b_rest) {
        if p != q {
            return i32::from(*p) - i32::from(*q);
        }
    }
    0
}

/// `a.eq_ignore_ascii_case(b)`, eight bytes at a time.
pub fn same_ignoring_case(a: &[u8], b: &[u8]) -> bool {
    let pad = |tail: &[u8]| {
        let mut w = [0u8; 8];
        if let Some(to) = w.get_mut(..tail.len()) {
            to.copy_from_slice(tail);
        }
        u64::from_le_bytes(w)
    };
    let same = |x: u64, y: u64| x == y || lower(x) == lower(y);
    let ((a8, a_tail), (b8, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a.len() == b.len() && a8.iter().zip(b8).all(|(x, y)| same(u64::from_le_bytes(*x), u64::from_le_bytes(*y))) && same(pad(a_tail), pad(b_tail))
}

/// Each of the eight bytes of `w` as `u8::to_ascii_lowercase` gives it: 0x20 added to each
/// byte from `A` to `Z` (no sum carries into the next byte: each is at most 0x7f + 0x3f).
fn lower(w: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let seven = w & !HIGH;
    let from_a = seven + 0x3f3f_3f3f_3f3f_3f3f; // high bit set from 0x41, `A`
    let past_z = seven + 0x2525_2525_2525_2525; // high bit set from 0x5b, past `Z`
    let upper = from_a & !past_z & !w & HIGH;
    w | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of bytes at several places of strings of several lengths, against std.
    fn each_pair(check: impl Fn(&[u8], &[u8])) {
        for x in 0..=u8::MAX {
            for y in 0..=u8::MAX {
                for at in [0, 3, 4, 6, 7, 8, 11, 12, 14] {
                    let (mut a, mut b) = (b"bEaReR-aBcDeFgH".to_vec(), b"BeArEr-AbCdEfGh".to_vec());
                    (a[at], b[at]) = (x, y);
                    for len in [at + 1, a.len()] {
                        check(&a[..len], &b[..len]);
                    }
                }
            }
        }
    }

    #[test]
    fn compares_as_memcmp() {
        each_pair(|a, b| {
            let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
            assert_eq!(compare(&a, &b).signum(), a.cmp(&b) as i32, "{a:?} {b:?}");
            assert_eq!(compare(&a, &a), 0);
        });
        each_pair(|a, b| assert_eq!(compare(a, b).signum(), a.cmp(b) as i32, "{a:?} {b:?}"));
        assert_eq!(compare(b"", b""), 0);
    }

    #[test]
    fn ignores_case_as_std() {
        each_pair(|a, b| assert_eq!(same_ignoring_case(a, b), a.eq_ignore_ascii_case(b), "{a:?} {b:?}"));
        assert!(!same_ignoring_case(b"bearer", b"bearer "));
        assert!(same_ignoring_case(b"", b""));
    }
}
