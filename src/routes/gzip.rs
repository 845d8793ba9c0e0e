//! gzip for `/metrics`, made here rather than by tower-http's compression layer: Prometheus asks
//! for gzip at every scrape, and a busy scrape's megabyte of exposition text cost ~7 ms through
//! the layer's streaming encoder (BENCHMARKS.md, run 9). Here the body is deflated in one call, in
//! two halves on two threads when it is large, as pigz does: the first half ends with a sync
//! flush (byte-aligned, not final), the second is deflated on its own and ends the stream. The
//! result is one ordinary gzip member (RFC 1952) that any gzip reader inflates; only the second
//! half cannot refer back into the first, which costs a few hundred bytes.

use flate2::{Compress, Compression, FlushCompress, Status};

/// Below this, one thread: starting a second costs more than it saves.
const TWO_HALVES_FROM: usize = 128 * 1024;

/// Whether an `Accept-Encoding` field value admits gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or
/// `*` with a weight above 0, the named coding's weight taking precedence over `*`'s.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in values.into_iter().flat_map(|v| v.split(',')) {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let weight = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if coding == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// `body` as one gzip member, at the fastest level.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let (deflated, crc) = if body.len() < TWO_HALVES_FROM {
        (deflate(body, true), crc(body))
    } else {
        // Split after a line feed near the middle (any byte would do; a line keeps halves tidy).
        let middle = body.len() / 2;
        let at = body[middle..].iter().position(|b| *b == b'\n').map_or(middle, |i| middle + i + 1);
        let (first, second) = body.split_at(at);
        std::thread::scope(|s| {
            let other = s.spawn(|| (deflate(first, false), crc(first)));
            let (tail, tail_crc) = (deflate(second, true), crc(second));
            let (mut head, mut head_crc) = other.join().expect("deflating half of /metrics panicked");
            head.extend_from_slice(&tail);
            head_crc.combine(&tail_crc);
            (head, head_crc)
        })
    };
    // Header: magic, deflate, no flags, no time, fastest (XFL 4), unknown OS.
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out
}

fn crc(data: &[u8]) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h
}

/// Raw deflate of `data`: ending the stream when `last`, else ending on a sync flush.
fn deflate(data: &[u8], last: bool) -> Vec<u8> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() / 8 + 1024);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    loop {
        let input = &data[c.total_in() as usize..];
        let status = c.compress_vec(input, &mut out, flush).expect("deflate of an in-memory buffer");
        let flushed = c.total_in() as usize == data.len() && out.len() < out.capacity();
        if status == Status::StreamEnd || (!last && flushed) {
            return out;
        }
        out.reserve(out.capacity());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        flate2::read::GzDecoder::new(gz).read_to_end(&mut out).expect("a valid gzip member");
        out
    }

    #[test]
    fn small_and_large_bodies_inflate_to_themselves() {
        let line = |i: usize| {
            format!("webhook_window_payloads_received{{org=\"org-{i}\",window=\"1h\"}} {}\n", i * 7)
        };
        let large: String = (0..40_000).map(line).collect();
        assert!(large.len() > 2 * TWO_HALVES_FROM);
        for body in ["", "# EOF\n", large.as_str()] {
            let gz = gzip(body.as_bytes());
            assert_eq!(gunzip(&gz), body.as_bytes(), "{} bytes", body.len());
        }
        assert!(gzip(large.as_bytes()).len() * 5 < large.len(), "compresses");
        // A body without a line feed after its middle is split anywhere.
        let blob = vec![b'x'; 3 * TWO_HALVES_FROM];
        assert_eq!(gunzip(&gzip(&blob)), blob);
    }

    #[test]
    fn accept_encoding_weights_are_honoured() {
        for (value, yes) in [
            ("gzip", true),
            ("deflate, gzip;q=0.5", true),
            ("GZIP", true),
            ("x-gzip", true),
            ("*", true),
            ("identity", false),
            ("gzip;q=0", false),
            ("gzip; q=0.0, *", false),
            ("br, *;q=0.1", true),
            ("*;q=0", false),
            ("gzip;q=nonsense", false),
            ("", false),
        ] {
            assert_eq!(accepts_gzip([value]), yes, "{value:?}");
        }
        assert!(accepts_gzip(["br", "gzip"]), "repeated fields are one list");
    }
}
