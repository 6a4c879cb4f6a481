//! What a non-text part of a chat request — an image, audio, a file — can
//! cost a model in input tokens, read from the part itself before it is sent
//! (SPEC §8: "input estimates are bounded by what was sent"). The gateway
//! holds these figures; the upstream's `usage` replaces them at the commit.
//!
//! A part's bytes do not bound an image's tokens (a few hundred bytes of PNG
//! can describe a 10 000 × 10 000 px white square), its pixels do: so an
//! image's size is read from its header, and the bound is the largest count
//! of the vision encoders below for that size. Audio is bounded by its
//! duration (read from a WAV header, else from the lowest bitrate a codec
//! uses), a file by its size and, for a PDF, its pages.
//!
//! | part | bound |
//! |---|---|
//! | image, size known (`data:` URL of PNG, JPEG, GIF, WebP, BMP) | the largest of OpenAI's tiles (85 + 170 per 512-px tile after its scaling; 2833 + 5667 for `gpt-4o-mini`), OpenAI's 32-px patches (≤ 1536, × 2.46 for the nano models), Claude (w·h/750 after scaling its long edge to 1568, ≤ 1600) and Gemini (258, or 258 per 768-px tile) |
//! | image, size unknown (remote URL, unreadable header) | the same for an image of 2048 × 2048 px or any shape within it: [`IMAGE_UNKNOWN_TOKENS`] (48 169 for `gpt-4o-mini`) |
//! | audio (`input_audio`) | [`AUDIO_TOKENS_PER_S`] per second; seconds from a PCM WAV header, else bytes ÷ [`MIN_AUDIO_BYTES_PER_S`] |
//! | file (`file.file_data`) | its bytes (a byte-level tokenizer spends at most one token per byte of text), and at least [`FILE_PAGE_TOKENS`] per PDF page found |

use crate::action::base64_decode;

/// A `data:` URL: `data:<mime>[;base64],<payload>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUrl<'a> {
    pub mime: &'a str,
    pub base64: bool,
    pub payload: &'a str,
}

impl<'a> DataUrl<'a> {
    /// Parses a `data:` URL; `None` for anything else (a remote URL).
    pub fn parse(url: &'a str) -> Option<DataUrl<'a>> {
        let rest = url
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("data:"))
            .map(|_| &url[5..])?;
        let (meta, payload) = rest.split_once(',')?;
        let mut params = meta.split(';');
        let mime = params.next().unwrap_or("");
        let base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
        Some(DataUrl {
            mime,
            base64,
            payload,
        })
    }

    /// The payload's size in bytes once decoded (an upper bound for a
    /// percent-encoded payload).
    pub fn len(&self) -> u64 {
        if self.base64 {
            base64_len(self.payload)
        } else {
            self.payload.len() as u64
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `max` bytes or so of the payload, decoded (what a header needs).
    pub fn head(&self, max: usize) -> Vec<u8> {
        if self.base64 {
            base64_head(self.payload, max)
        } else {
            self.payload.as_bytes()[..self.payload.len().min(max)].to_vec()
        }
    }

    /// The whole payload, decoded.
    pub fn bytes(&self) -> Vec<u8> {
        self.head(usize::MAX)
    }
}

/// The decoded size of a base64 text: 3 bytes per 4 symbols (padding,
/// whitespace and stray characters not counted).
pub fn base64_len(s: &str) -> u64 {
    let symbols = s
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        .count() as u64;
    symbols * 3 / 4
}

/// Decodes the first `max` bytes of a base64 text (whitespace skipped; a
/// last group without its padding decodes too). Undecodable text gives what
/// decoded before it.
pub fn base64_head(s: &str, max: usize) -> Vec<u8> {
    let want = (max / 3 + 1).saturating_mul(4);
    let mut clean = String::with_capacity(want.min(s.len()));
    for c in s.chars() {
        if clean.len() >= want {
            break;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_') {
            clean.push(c);
        } else if c == '=' || !c.is_ascii_whitespace() {
            break;
        }
    }
    let mut out = base64_decode(&clean).unwrap_or_default();
    out.truncate(max);
    out
}

// -------------------------------------------------------------------- images

/// Bytes of an image's start read for its size: a JPEG's frame header comes
/// after its EXIF and ICC segments, which may take tens of kilobytes.
pub const IMAGE_HEAD_BYTES: usize = 256 << 10;

/// The size (width, height) in pixels from an image's first bytes: PNG,
/// JPEG, GIF, WebP or BMP. `None` when the format is not one of these or
/// the header is cut short.
pub fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| -> Option<u32> {
        Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])))
    };
    let le16 = |i: usize| -> Option<u32> {
        Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])))
    };
    let le24 = |i: usize| -> Option<u32> {
        Some(
            u32::from(*b.get(i)?)
                | u32::from(*b.get(i + 1)?) << 8
                | u32::from(*b.get(i + 2)?) << 16,
        )
    };
    let be32 =
        |i: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    let le32 =
        |i: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    let size = if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        (be32(16)?, be32(20)?)
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        (le16(6)?, le16(8)?)
    } else if b.starts_with(b"BM") {
        let w = le32(18)? as i32;
        let h = le32(22)? as i32;
        (w.unsigned_abs(), h.unsigned_abs())
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        match b.get(12..16)? {
            b"VP8 " => (le16(26)? & 0x3fff, le16(28)? & 0x3fff),
            b"VP8L" => {
                let v = le32(21)?;
                ((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => (le24(24)? + 1, le24(27)? + 1),
            _ => return None,
        }
    } else if b.starts_with(&[0xff, 0xd8]) {
        // Walk the segments to the frame header(s) before the scan; the
        // largest frame counts (an EXIF thumbnail sits inside APP1 and is skipped).
        let (mut i, mut best) = (2usize, None::<(u32, u32)>);
        loop {
            while b.get(i) == Some(&0xff) && b.get(i + 1) == Some(&0xff) {
                i += 1;
            }
            if *b.get(i)? != 0xff {
                break;
            }
            let marker = *b.get(i + 1)?;
            if marker == 0xd9 || marker == 0xda {
                break;
            }
            if (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
                i += 2;
                continue;
            }
            let len = be16(i + 2)? as usize;
            let is_sof = (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
            if is_sof {
                let (h, w) = (be16(i + 5)?, be16(i + 7)?);
                best = Some(best.map_or((w, h), |(bw, bh)| (bw.max(w), bh.max(h))));
            }
            i += 2 + len;
        }
        best?
    } else {
        return None;
    };
    Some(size).filter(|(w, h)| *w > 0 && *h > 0)
}

/// How one family of vision encoders counts an image of `w × h` px.
fn openai_tiles(w: u32, h: u32, base: u64, per_tile: u64) -> u64 {
    // High detail (the most a call can cost): fit in 2048 × 2048, then the
    // shortest side to 768 (downscaling only), then 512-px tiles.
    let (mut w, mut h) = (f64::from(w), f64::from(h));
    let long = w.max(h);
    if long > 2048.0 {
        let s = 2048.0 / long;
        (w, h) = (w * s, h * s);
    }
    let short = w.min(h);
    if short > 768.0 {
        let s = 768.0 / short;
        (w, h) = (w * s, h * s);
    }
    let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
    base + per_tile * tiles
}

fn openai_patches(w: u32, h: u32) -> u64 {
    // gpt-4.1-mini / -nano, o4-mini, gpt-5-mini / -nano: 32-px patches, at
    // most 1536, times the model's multiplier (the largest, 2.46, for nano).
    let patches = (u64::from(w).div_ceil(32) * u64::from(h).div_ceil(32)).min(1536);
    (patches * 246).div_ceil(100)
}

fn claude(w: u32, h: u32) -> u64 {
    // Long edge scaled to 1568 px; ≈ w·h/750 tokens, at most ~1600.
    let (mut w, mut h) = (f64::from(w), f64::from(h));
    let long = w.max(h);
    if long > 1568.0 {
        let s = 1568.0 / long;
        (w, h) = (w * s, h * s);
    }
    ((w.ceil() * h.ceil() / 750.0).ceil() as u64).min(1600)
}

fn gemini(w: u32, h: u32) -> u64 {
    // 258 for an image of at most 384 px a side, else 258 per 768-px tile.
    if w <= 384 && h <= 384 {
        258
    } else {
        258 * u64::from(w).div_ceil(768) * u64::from(h).div_ceil(768)
    }
}

/// OpenAI's `gpt-4o-mini` counts an image ~33× what `gpt-4o` does (its price
/// per token is that much lower): 2833 + 5667 per tile.
fn is_gpt_4o_mini(model: &str) -> bool {
    model.contains("gpt-4o-mini")
}

/// The side of the image assumed when its size cannot be read (a remote URL).
pub const UNKNOWN_IMAGE_SIDE: u32 = 2048;

/// The tokens an image of unknown size is held for (every model but
/// `gpt-4o-mini`): the largest count of an image within 2048 × 2048 px.
pub const IMAGE_UNKNOWN_TOKENS: u64 = 3779;

/// The most input tokens one image of `size` (`None`: unknown) can cost
/// `model`: the largest count of the encoders this module knows.
pub fn image_tokens(model: &str, size: Option<(u32, u32)>) -> u64 {
    let (base, per_tile) = if is_gpt_4o_mini(model) {
        (2833, 5667)
    } else {
        (85, 170)
    };
    let count = |w: u32, h: u32| {
        openai_tiles(w, h, base, per_tile)
            .max(openai_patches(w, h))
            .max(claude(w, h))
            .max(gemini(w, h))
    };
    match size {
        Some((w, h)) => count(w, h),
        None => {
            // The largest over the shapes within the assumed square: the
            // square itself, and OpenAI's worst shape (768 × 2048 after scaling).
            let s = UNKNOWN_IMAGE_SIDE;
            count(s, s).max(count(s * 3 / 8, s))
        }
    }
}

// --------------------------------------------------------------------- audio

/// Input tokens per second of audio: the most an audio encoder spends
/// (Whisper-style encoders: a frame per 20 ms; Gemini counts 32 a second,
/// OpenAI's audio models about 10).
pub const AUDIO_TOKENS_PER_S: u64 = 50;

/// The lowest bitrate an audio payload is assumed to have when its duration
/// cannot be read (6 kbit/s: Opus and AMR at their lowest; MP3 goes down to 8).
pub const MIN_AUDIO_BYTES_PER_S: u64 = 750;

/// Bytes of an audio payload read for its header.
pub const AUDIO_HEAD_BYTES: usize = 4096;

/// The byte rate of a PCM WAV from its header (`fmt ` chunk: PCM, float or
/// extensible), computed from the sample rate, channels and bits (never
/// trusting the header's own byte-rate field).
pub fn wav_byte_rate(b: &[u8]) -> Option<u64> {
    if !(b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WAVE")) {
        return None;
    }
    let le16 = |i: usize| -> Option<u64> {
        Some(u64::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])))
    };
    let le32 = |i: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            b.get(i..i + 4)?.try_into().ok()?,
        )))
    };
    let mut i = 12;
    loop {
        let id = b.get(i..i + 4)?;
        let len = le32(i + 4)? as usize;
        if id == b"fmt " {
            let format = le16(i + 8)?;
            let channels = le16(i + 10)?;
            let rate = le32(i + 12)?;
            let bits = le16(i + 22)?;
            if !matches!(format, 1 | 3 | 0xfffe) {
                return None;
            }
            let bytes_per_s = rate * channels * bits.div_ceil(8);
            return Some(bytes_per_s).filter(|r| *r > 0);
        }
        i = i.checked_add(8)?.checked_add(len)?.checked_add(len & 1)?;
    }
}

/// The most input tokens an audio payload of `len` bytes starting with
/// `head` can cost.
pub fn audio_tokens(head: &[u8], len: u64) -> u64 {
    let rate = wav_byte_rate(head)
        .unwrap_or(MIN_AUDIO_BYTES_PER_S)
        .min(u64::MAX / AUDIO_TOKENS_PER_S);
    (len.saturating_mul(AUDIO_TOKENS_PER_S))
        .div_ceil(rate)
        .max(AUDIO_TOKENS_PER_S)
}

// --------------------------------------------------------------------- files

/// Tokens a document page can cost: its text (~1500 for a dense page) and
/// its picture (Claude reads every PDF page as an image too, ≤ 1600).
pub const FILE_PAGE_TOKENS: u64 = 3200;

/// Pages of a PDF as far as they can be seen without inflating its streams:
/// the larger of the page objects (`/Type /Page`) and the largest `/Count`.
pub fn pdf_pages(b: &[u8]) -> u64 {
    if !b.starts_with(b"%PDF") {
        return 0;
    }
    let mut pages = 0u64;
    let mut count = 0u64;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'/' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if let Some(after) = rest.strip_prefix(b"/Type") {
            let t = after
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(after.len());
            let after = &after[t..];
            if after.starts_with(b"/Page")
                && !after.get(5).is_some_and(|c| c.is_ascii_alphanumeric())
            {
                pages += 1;
            }
        } else if let Some(after) = rest.strip_prefix(b"/Count") {
            let digits: Vec<u8> = after
                .iter()
                .skip_while(|c| c.is_ascii_whitespace())
                .take_while(|c| c.is_ascii_digit())
                .take(9)
                .copied()
                .collect();
            if let Ok(n) = std::str::from_utf8(&digits).unwrap_or("").parse::<u64>() {
                count = count.max(n);
            }
        }
        i += 1;
    }
    pages.max(count)
}

/// The most input tokens a file (its decoded bytes) can cost.
pub fn file_tokens(bytes: &[u8]) -> u64 {
    (bytes.len() as u64)
        .max(pdf_pages(bytes).saturating_mul(FILE_PAGE_TOKENS))
        .max(FILE_PAGE_TOKENS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::base64_encode;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut b = vec![0xff, 0xd8];
        // APP1 with an EXIF thumbnail whose own SOF says 160 × 120: skipped.
        let thumb = [0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 120, 0, 160, 3];
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(thumb);
        app1.extend(vec![0u8; 40_000]);
        b.extend([0xff, 0xe1]);
        b.extend(((app1.len() + 2) as u16).to_be_bytes());
        b.extend(app1);
        b.extend([0xff, 0xdb, 0, 4, 0, 0]); // DQT
        b.extend([0xff, 0xc2, 0, 17, 8]);
        b.extend(h.to_be_bytes());
        b.extend(w.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b.extend([0xff, 0xda, 0, 2]);
        b
    }

    #[test]
    fn image_sizes_from_headers() {
        assert_eq!(image_size(&png(1920, 1080)), Some((1920, 1080)));
        assert_eq!(image_size(&jpeg(4000, 3000)), Some((4000, 3000)));
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0x20, 0x03, 0x58, 0x02]);
        assert_eq!(image_size(&gif), Some((800, 600)));
        let mut bmp = b"BM".to_vec();
        bmp.extend([0u8; 16]);
        bmp.extend(640i32.to_le_bytes());
        bmp.extend((-480i32).to_le_bytes());
        assert_eq!(image_size(&bmp), Some((640, 480)));
        // WebP VP8X: 24-bit sizes minus one.
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend([0xff, 0x0f, 0x00, 0xff, 0x0b, 0x00]);
        assert_eq!(image_size(&webp), Some((4096, 3072)));
        // VP8L: 14-bit sizes minus one, packed.
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let packed: u32 = 99 | (49 << 14);
        vp8l.extend(packed.to_le_bytes());
        assert_eq!(image_size(&vp8l), Some((100, 50)));
        // Cut short, unknown, zero-sized: no size.
        assert_eq!(image_size(&png(10, 10)[..18]), None);
        assert_eq!(image_size(&jpeg(10, 10)[..1000]), None);
        assert_eq!(image_size(b"not an image"), None);
        assert_eq!(image_size(&png(0, 10)), None);
    }

    #[test]
    fn data_urls() {
        let b64 = base64_encode(&png(3000, 2000));
        let url = format!("data:image/png;base64,{b64}");
        let d = DataUrl::parse(&url).unwrap();
        assert!(d.base64 && d.mime == "image/png");
        assert_eq!(d.len(), png(3000, 2000).len() as u64);
        assert_eq!(image_size(&d.head(IMAGE_HEAD_BYTES)), Some((3000, 2000)));
        assert_eq!(d.head(8), b"\x89PNG\r\n\x1a\n");
        assert!(DataUrl::parse("https://example.com/cat.png").is_none());
        let t = DataUrl::parse("DATA:text/plain,hello").unwrap();
        assert!(!t.base64 && t.len() == 5 && t.bytes() == b"hello");
        assert_eq!(base64_len("AAAA AAAA\nAA=="), 7);
    }

    #[test]
    fn image_bounds_follow_each_encoder() {
        // A 1024 × 1024 image: OpenAI 4 tiles (765); patches 1024 × 2.46;
        // Claude 1568² cap does not apply → 1024²/750 = 1399; Gemini 4 tiles (1032).
        assert_eq!(openai_tiles(1024, 1024, 85, 170), 765);
        assert_eq!(openai_patches(1024, 1024), 2520);
        assert_eq!(claude(1024, 1024), 1399);
        assert_eq!(gemini(1024, 1024), 1032);
        assert_eq!(image_tokens("openai/gpt-4o", Some((1024, 1024))), 2520);
        // gpt-4o-mini counts its tiles ×33.
        assert_eq!(
            image_tokens("openai/gpt-4o-mini", Some((1024, 1024))),
            2833 + 4 * 5667
        );
        // Small images: Gemini's flat 258 and OpenAI's base are the floor.
        assert_eq!(image_tokens("x", Some((64, 64))), 258);
        // OpenAI's worst shape: 768 × 2048 after scaling → 8 tiles.
        assert_eq!(openai_tiles(1536, 4096, 85, 170), 85 + 8 * 170);
        assert_eq!(openai_tiles(1000, 4000, 85, 170), 85 + 4 * 170);
        // Unknown size: the largest count within 2048 × 2048, never below a known size within it.
        assert_eq!(image_tokens("x", None), IMAGE_UNKNOWN_TOKENS);
        for (w, h) in [
            (2048, 2048),
            (768, 2048),
            (512, 512),
            (2048, 100),
            (1568, 1568),
        ] {
            assert!(
                image_tokens("x", Some((w, h))) <= image_tokens("x", None),
                "{w}×{h}"
            );
            assert!(
                image_tokens("openai/gpt-4o-mini", Some((w, h)))
                    <= image_tokens("openai/gpt-4o-mini", None),
                "{w}×{h}"
            );
        }
        assert_eq!(image_tokens("openai/gpt-4o-mini", None), 2833 + 8 * 5667);
        // A huge claimed size is bounded by every encoder but Gemini's tiles.
        assert_eq!(image_tokens("x", Some((7680, 7680))), 258 * 100);
    }

    #[test]
    fn audio_bounds() {
        let mut wav = b"RIFF\0\0\0\0WAVE".to_vec();
        wav.extend(b"LIST\x04\0\0\0abcd");
        wav.extend(b"fmt \x10\0\0\0");
        wav.extend(1u16.to_le_bytes()); // PCM
        wav.extend(1u16.to_le_bytes()); // mono
        wav.extend(16_000u32.to_le_bytes());
        wav.extend(1u32.to_le_bytes()); // a lying byte rate: ignored
        wav.extend(2u16.to_le_bytes());
        wav.extend(16u16.to_le_bytes());
        assert_eq!(wav_byte_rate(&wav), Some(32_000));
        // 10 s of 16 kHz 16-bit mono: 500 tokens.
        assert_eq!(audio_tokens(&wav, 320_000), 500);
        // Not a WAV (an MP3): the lowest bitrate; 10 s at 128 kbit/s is held as 213 s.
        assert_eq!(audio_tokens(b"ID3\x04", 160_000), 160_000 * 50 / 750 + 1);
        // A tiny clip still costs a second's worth.
        assert_eq!(audio_tokens(&wav, 10), AUDIO_TOKENS_PER_S);
    }

    proptest::proptest! {
        /// Whatever the bytes, the readers answer (no panic, no endless loop).
        #[test]
        fn any_bytes_are_read_without_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), len in 0u64..u64::MAX) {
            for prefix in [&b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"[..], b"\xff\xd8", b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBPVP8X", b"RIFF\0\0\0\0WAVE", b"%PDF", b""] {
                let mut x = prefix.to_vec();
                x.extend(&b);
                let _ = image_size(&x);
                let _ = wav_byte_rate(&x);
                let _ = audio_tokens(&x, len);
                let _ = file_tokens(&x);
                if let Some((w, h)) = image_size(&x) {
                    let _ = image_tokens("openai/gpt-4o-mini", Some((w, h)));
                }
            }
            let s = String::from_utf8_lossy(&b);
            let _ = base64_head(&s, 64);
            let _ = base64_len(&s);
            if let Some(d) = DataUrl::parse(&format!("data:{s}")) {
                let _ = d.len();
                let _ = d.head(16);
            }
        }

        #[test]
        fn image_bounds_never_overflow(w in 1u32.., h in 1u32..) {
            let t = image_tokens("x", Some((w, h)));
            proptest::prop_assert!(t >= 258);
        }
    }

    #[test]
    fn file_bounds() {
        assert_eq!(file_tokens(b"hello"), FILE_PAGE_TOKENS);
        let text = vec![b'a'; 10_000];
        assert_eq!(file_tokens(&text), 10_000);
        // A small PDF of many pages: its pages bound it, not its bytes.
        let mut pdf = b"%PDF-1.7\n1 0 obj << /Type /Pages /Kids [] /Count 40 >> endobj\n".to_vec();
        for i in 0..3 {
            pdf.extend(format!("{} 0 obj <</Type/Page/Parent 1 0 R>> endobj\n", i + 2).bytes());
        }
        assert_eq!(pdf_pages(&pdf), 40);
        assert_eq!(file_tokens(&pdf), 40 * FILE_PAGE_TOKENS);
        let mut three = b"%PDF-1.4\n".to_vec();
        for _ in 0..3 {
            three.extend(b"<< /Type /Page >> << /Type /Pages >> << /Type /PageLabel >>");
        }
        assert_eq!(pdf_pages(&three), 3);
    }
}
