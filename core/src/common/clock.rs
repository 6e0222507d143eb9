//! The time of one decision, read from the host only if a step of it needs the time: a public
//! route's request is decided without a clock read.

use std::cell::Cell;

/// Seconds since the epoch, read at most once.
pub struct Now<'a> {
    read: &'a dyn Fn() -> u64,
    at: Cell<Option<u64>>,
}

impl<'a> Now<'a> {
    /// A clock that asks `read` the first time the time is needed.
    pub fn lazy(read: &'a dyn Fn() -> u64) -> Now<'a> {
        Now { read, at: Cell::new(None) }
    }

    /// A clock that already knows the time.
    pub fn fixed(secs: u64) -> Now<'static> {
        Now { read: &never, at: Cell::new(Some(secs)) }
    }

    /// The time, read now if it was not yet.
    pub fn get(&self) -> u64 {
        match self.at.get() {
            Some(t) => t,
            None => {
                let t = (self.read)();
                self.at.set(Some(t));
                t
            }
        }
    }
}

/// What a fixed clock would read: never called.
fn never() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_and_only_when_asked() {
        let reads = Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            42
        };
        let now = Now::lazy(&read);
        assert_eq!(reads.get(), 0);
        assert_eq!((now.get(), now.get()), (42, 42));
        assert_eq!(reads.get(), 1);
        assert_eq!(Now::fixed(7).get(), 7);
    }
}
