//! Spare buffers, per worker thread. A connection between requests, its socket
//! drained, holds no buffer: the rule that keeps an idle session at ~1.9 KB. But a
//! busy connection meets that rule after every request, so it gave its buffers
//! back and allocated them again at its next read: two large `malloc`/`free`
//! pairs per request (~1,300 instructions of netio's HTTP loop per request under
//! callgrind, against none in its `httparse` ceiling, which keeps its buffers).
//! Given back here instead, they are taken again by the next connection that
//! reads on this thread. At most [`KEEP`] buffers of at most [`MAX_KEPT`] bytes
//! are kept per thread, so idle connections still hold nothing and the spares are
//! bounded (1 MiB per worker thread), but for one case: a read buffer given back
//! while a request body split from it is still alive elsewhere (a tool worker
//! holding it) cannot be sized; if that body was large, the spare holds its
//! allocation (at most `max_body` plus a read chunk) from the body's end until the
//! thread next takes a spare.

use std::cell::RefCell;

use bytes::BytesMut;

/// Spare buffers kept per thread.
pub const KEEP: usize = 16;
/// A buffer larger than this (it grew for a large body) is freed, not kept.
pub const MAX_KEPT: usize = 64 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `min` bytes: a spare if this thread
/// has one that can give that room without allocating, else a new one.
pub(crate) fn take(min: usize) -> BytesMut {
    // `try_reclaim`: room in the buffer's own view, or its whole allocation back
    // in view when no `Bytes` split from it is alive any more. A view never
    // overlaps what a live `Bytes` reads, so a shared spare is safe. A spare too
    // small for `min` is freed and the next one tried.
    while let Some(mut buf) = SPARE.with(|s| s.borrow_mut().pop()) {
        // Reclaimed whole, a spare can turn out larger than it looked when given
        // back (see `give`): such a one is freed here.
        if buf.try_reclaim(min) && buf.capacity() <= MAX_KEPT {
            return buf;
        }
    }
    BytesMut::with_capacity(min)
}

/// Takes `buf`, leaving it empty with no allocation, and keeps it as a spare when
/// it has room, is not too large, and this thread has room for one more;
/// otherwise frees it.
pub(crate) fn give(buf: &mut BytesMut) {
    let mut buf = std::mem::take(buf);
    buf.clear();
    // A read buffer's view is what is left after the requests split from it; its
    // allocation can be far larger (a 4 MiB body was read into it). Asking for
    // more than MAX_KEPT reclaims the whole allocation when nothing else shares
    // it, which shows its size: larger, it is freed. An allocation still shared
    // with a request body alive elsewhere cannot be sized: it is kept by its view,
    // and `take` frees it once it proves larger.
    if buf.capacity() == 0 || buf.capacity() > MAX_KEPT || buf.try_reclaim(MAX_KEPT + 1) {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            s.push(buf);
        }
    });
}

/// How many spares this thread holds (tests).
#[cfg(test)]
pub(crate) fn held() -> usize {
    SPARE.with(|s| s.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn a_given_buffer_is_taken_again_and_the_spares_are_bounded() {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        buf.put_slice(b"request bytes");
        let at = buf.as_ptr();
        give(&mut buf);
        assert_eq!(buf.capacity(), 0, "the connection keeps nothing");
        assert_eq!(held(), 1);
        let again = take(16 * 1024);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty());
        assert_eq!(held(), 0);
        // Too small for what is asked and not growable in place: freed, a new one.
        let mut small = BytesMut::with_capacity(64);
        give(&mut small);
        assert!(take(16 * 1024).capacity() >= 16 * 1024);
        assert_eq!(held(), 0);
        for _ in 0..KEEP + 5 {
            give(&mut BytesMut::with_capacity(1024));
        }
        assert_eq!(held(), KEEP);
        while held() > 0 {
            take(0);
        }
    }

    #[test]
    fn a_spare_never_hands_out_what_a_live_request_reads_and_large_ones_are_freed() {
        let mut buf = BytesMut::with_capacity(4096);
        buf.put_slice(b"POST / HTTP/1.1\r\n\r\n");
        let head = buf.split_to(10).freeze();
        give(&mut buf);
        assert_eq!(held(), 1);
        // The spare's own view has 4,086 bytes; 4,096 would need the part `head`
        // reads: a new buffer, and `head` is intact after it is written.
        let mut fresh = take(4096);
        assert!(fresh.capacity() >= 4096);
        fresh.put_bytes(b'x', 4096);
        assert_eq!(&head[..], b"POST / HTT");
        drop(head);
        give(&mut BytesMut::with_capacity(MAX_KEPT + 1));
        assert_eq!(held(), 0);
        // A large read buffer whose view is small once a large body was split off
        // and dropped: sized by its allocation, not its view, and freed.
        let mut big = BytesMut::with_capacity(4 << 20);
        big.put_bytes(b'b', (4 << 20) - 1000);
        drop(big.split_to((4 << 20) - 1000));
        assert!(
            big.capacity() <= MAX_KEPT,
            "a small view: {}",
            big.capacity()
        );
        give(&mut big);
        assert_eq!(held(), 0, "a 4 MiB allocation is not kept");
        // Split, then the split part dropped: the whole allocation comes back.
        let mut buf = BytesMut::with_capacity(4096);
        buf.put_slice(b"abc");
        let at = buf.as_ptr();
        drop(buf.split_to(3));
        give(&mut buf);
        let again = take(4096);
        assert_eq!(again.as_ptr(), at);
        assert!(again.capacity() >= 4096);
    }
}
