//! Newline-delimited framing on `BytesMut`, zero-copy.

use bytes::{BufMut, Bytes, BytesMut};

/// Default maximum frame length: 4 MiB, room for large tool results while a
/// client that never sends a newline cannot make the server buffer without bound.
pub const DEFAULT_MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// A frame that breaks the transport rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line longer than the maximum (counted without its line terminator).
    #[error("frame of at least {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// Bytes seen so far in the line.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The line is not UTF-8.
    #[error("frame is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The stream ended in the middle of a line.
    #[error("stream ended inside a frame ({len} bytes without a newline)")]
    Truncated {
        /// Bytes of the unfinished line.
        len: usize,
    },
    /// A message to send contains a newline, which the transport forbids.
    #[error("message contains a newline at offset {at}; MCP frames must be single lines")]
    EmbeddedNewline {
        /// Offset of the first newline.
        at: usize,
    },
    /// A message to send ends in a carriage return, which the decoder strips as
    /// part of a `\r\n` line end: it would arrive changed (found by fuzzing).
    #[error("message ends in a carriage return, which a reader takes for part of the line end")]
    TrailingCarriageReturn,
}

/// Splits a byte stream into frames: one per `\n`, with a trailing `\r` tolerated
/// and stripped; blank lines are skipped. Each frame is a `Bytes` view of the
/// receive buffer, not a copy. Remembers how far it has scanned, so a frame arriving
/// in many reads is scanned once, not once per read.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_len: usize,
    scanned: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        FrameDecoder {
            max_len,
            scanned: 0,
        }
    }

    /// The maximum frame length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Takes the next complete frame off the front of `buf`, or `Ok(None)` when
    /// `buf` holds no complete line yet. After an error the stream is unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            let Some(offset) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
                self.scanned = buf.len();
                // Allow one byte for a `\r` the next read may pair with its `\n`.
                if buf.len() > self.max_len + 1 {
                    return Err(FrameError::TooLong {
                        len: buf.len(),
                        max: self.max_len,
                    });
                }
                return Ok(None);
            };
            let newline = self.scanned + offset;
            self.scanned = 0;
            let mut line = buf.split_to(newline + 1);
            line.truncate(newline);
            if line.last() == Some(&b'\r') {
                line.truncate(newline - 1);
            }
            if line.is_empty() {
                continue;
            }
            if line.len() > self.max_len {
                return Err(FrameError::TooLong {
                    len: line.len(),
                    max: self.max_len,
                });
            }
            // The SIMD check first; std's, for where it fails, only then.
            if simdutf8::basic::from_utf8(&line).is_err()
                && let Err(e) = std::str::from_utf8(&line)
            {
                return Err(FrameError::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                });
            }
            return Ok(Some(line.freeze()));
        }
    }

    /// Call when the stream ended: an error if an unfinished line is left.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::Truncated { len: buf.len() }),
        }
    }
}

/// Appends `msg` and its newline to `dst`. Refuses a message with a newline inside
/// or longer than `max_len`.
pub fn encode(msg: &[u8], max_len: usize, dst: &mut BytesMut) -> Result<(), FrameError> {
    if msg.len() > max_len {
        return Err(FrameError::TooLong {
            len: msg.len(),
            max: max_len,
        });
    }
    if let Some(at) = memchr::memchr(b'\n', msg) {
        return Err(FrameError::EmbeddedNewline { at });
    }
    if msg.last() == Some(&b'\r') {
        return Err(FrameError::TrailingCarriageReturn);
    }
    dst.reserve(msg.len() + 1);
    dst.put_slice(msg);
    dst.put_u8(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(d: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<Bytes>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = d.decode(buf)? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn splits_lines_and_strips_crlf_and_blank_lines() {
        let mut d = FrameDecoder::new(64);
        let mut buf = BytesMut::from(&b"{\"a\":1}\r\n\n{\"b\":2}\n{\"c\""[..]);
        assert_eq!(
            decode_all(&mut d, &mut buf).unwrap(),
            vec![&b"{\"a\":1}"[..], &b"{\"b\":2}"[..]]
        );
        assert_eq!(&buf[..], b"{\"c\"");
        assert_eq!(
            d.decode_eof(&mut buf),
            Err(FrameError::Truncated { len: 4 })
        );
    }

    #[test]
    fn frames_share_the_receive_buffer() {
        let mut d = FrameDecoder::new(64);
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"hello\n");
        let base = buf.as_ptr();
        let frame = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.as_ptr(), base, "the frame must be a view, not a copy");
    }

    #[test]
    fn too_long_line_is_refused_with_or_without_newline() {
        let mut d = FrameDecoder::new(4);
        let mut buf = BytesMut::from(&b"12345\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::TooLong { len: 5, max: 4 })
        );
        let mut d = FrameDecoder::new(4);
        let mut buf = BytesMut::from(&b"123456"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::TooLong { len: 6, max: 4 })
        );
        // Exactly the maximum, with CRLF, is fine even when split before the LF.
        let mut d = FrameDecoder::new(4);
        let mut buf = BytesMut::from(&b"1234\r"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"\n");
        assert_eq!(d.decode(&mut buf).unwrap().unwrap(), &b"1234"[..]);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut d = FrameDecoder::new(64);
        let mut buf = BytesMut::from(&b"ok\xff\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::InvalidUtf8 { valid_up_to: 2 })
        );
    }

    #[test]
    fn encode_refuses_newlines_and_oversize() {
        let mut out = BytesMut::new();
        encode(b"{}", 8, &mut out).unwrap();
        assert_eq!(&out[..], b"{}\n");
        assert_eq!(
            encode(b"{\n}", 8, &mut out),
            Err(FrameError::EmbeddedNewline { at: 1 })
        );
        // The fuzzer's find: "\r" framed as "\r\n" decoded as a blank line.
        assert_eq!(
            encode(b"a\r", 8, &mut out),
            Err(FrameError::TrailingCarriageReturn)
        );
        assert_eq!(
            encode(b"123456789", 8, &mut out),
            Err(FrameError::TooLong { len: 9, max: 8 })
        );
        assert_eq!(
            &out[..],
            b"{}\n",
            "a refused message leaves the buffer as it was"
        );
    }

    proptest! {
        /// However a stream of frames is cut into reads, the same frames come out.
        #[test]
        fn any_split_decodes_to_the_same_frames(
            frames in proptest::collection::vec("[^\n\r]{1,40}", 1..12),
            crlf in proptest::collection::vec(any::<bool>(), 12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let mut stream = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                stream.extend_from_slice(f.as_bytes());
                stream.extend_from_slice(if crlf[i] { b"\r\n" } else { b"\n" });
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            points.dedup();
            let mut d = FrameDecoder::new(4 * 40);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for w in points.windows(2) {
                buf.extend_from_slice(&stream[w[0]..w[1]]);
                got.extend(decode_all(&mut d, &mut buf).unwrap());
            }
            prop_assert_eq!(d.decode_eof(&mut buf), Ok(None));
            let want: Vec<Bytes> = frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
