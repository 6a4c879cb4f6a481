//! File names, extensions and content sniffing for uploads (SPEC §3 `head`,
//! §6 `sniffType`).
//!
//! Everything here is a pure function of its arguments, so the edge, the
//! browser and native callers judge a file the same way.
//!
//! The sniffer answers two questions: "what is this, really?" ([`sniff`]) and
//! "does that agree with the name the user gave it?" ([`head_agrees`]). A
//! `head` is the first bytes of a file as sent by the client; callers should
//! send at least 32 bytes (or the whole file when it is shorter) — a signature
//! is only recognised when the head holds all of it, because a real file of
//! that type is never shorter than its own signature.

use std::fmt;

/// Longest accepted file name, in UTF-8 bytes: the limit of nearly every file
/// system, so a name we accept can be stored anywhere downstream.
pub const MAX_NAME_BYTES: usize = 255;

/// Why a file name is refused.
///
/// The variants are checked in declaration order (after [`NameProblem::Empty`]),
/// so a name with several problems always reports the same one. The
/// [`reason`](NameProblem::reason) text is stable because it ends up in error
/// messages and logs that people search for.
///
/// A name without an extension is *valid*: its extension is `""`, and whether
/// that is allowed is the plan's business, not the name checker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Empty, or nothing but dots and whitespace (`"."`, `".."`, `" . "`):
    /// such names are path components or vanish when a file system trims them.
    Empty,
    /// Contains U+0000, which truncates the name in C APIs and file systems.
    Nul,
    /// Contains `/` or `\`: a name must never be able to walk into a directory.
    PathSeparator,
    /// Contains a bidi control (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
    /// U+061C), which can make `invoice\u{202E}fdp.exe` display as
    /// `invoiceexe.pdf` and so hide the real extension.
    BidiControl,
    /// Contains another C0 or C1 control character (or DEL): these break
    /// headers, logs and terminals and have no place in a name.
    ControlChar,
    /// Longer than [`MAX_NAME_BYTES`] UTF-8 bytes.
    TooLong,
}

impl NameProblem {
    /// A short, stable English reason, fit for an error message.
    pub fn reason(&self) -> &'static str {
        match self {
            NameProblem::Empty => "file name is empty",
            NameProblem::Nul => "file name contains a NUL character",
            NameProblem::PathSeparator => "file name contains a path separator",
            NameProblem::BidiControl => "file name contains a bidi control character",
            NameProblem::ControlChar => "file name contains a control character",
            NameProblem::TooLong => "file name is longer than 255 bytes",
        }
    }
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for NameProblem {}

/// Bidi controls: embeddings/overrides, isolates, and the implicit marks.
/// The marks are included too because they also reorder what a user sees.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Check a file name as the user gave it (SPEC §3: refused names answer
/// `file_name_invalid`, 400). Only the rules that protect storage and the
/// people who later see the name are applied; characters such as `:` or `*`
/// are fine on the web and are left alone.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    if name
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .is_empty()
    {
        return Err(NameProblem::Empty);
    }
    if name.contains('\0') {
        return Err(NameProblem::Nul);
    }
    if name.contains(['/', '\\']) {
        return Err(NameProblem::PathSeparator);
    }
    if name.chars().any(is_bidi_control) {
        return Err(NameProblem::BidiControl);
    }
    if name.chars().any(char::is_control) {
        return Err(NameProblem::ControlChar);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameProblem::TooLong);
    }
    Ok(())
}

/// The extension of a file name (SPEC §3): the part after the last dot,
/// lower-cased, after trailing dots and spaces are removed.
///
/// Trailing dots and spaces are removed first because Windows drops them when
/// it saves the file, so `"Report.PDF. . "` really is a PDF (`"pdf"`). Only
/// the *last* dot counts, so `"a.jpg.php"` is `"php"` — the part a web server
/// would act on. A name without a dot has the extension `""`. A name that is
/// a dot and a word (`".bashrc"`) has that word as its extension
/// (`"bashrc"`), by the same "after the last dot" rule: there is no special
/// case for hidden files, so nothing can slip past a rule through one.
pub fn extension(name: &str) -> String {
    let trimmed = name.trim_end_matches(['.', ' ']);
    match trimmed.rfind('.') {
        Some(i) => crate::case::to_lowercase(&trimmed[i + 1..]),
        None => String::new(),
    }
}

/// Normalise one extension as written in a config or by a caller: trimmed,
/// leading dots removed, lower-cased (`" .PDF"` → `"pdf"`), so that it can be
/// compared with [`extension`]'s output.
pub fn normalize_extension(ext: &str) -> String {
    crate::case::to_lowercase(
        ext.trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '[' | ']'))
            .trim_start_matches(['.', ' '])
            .trim_end_matches(['.', ' ']),
    )
}

/// Normalise an allowed-extensions list written as one string, the way the
/// seed stores it: `"pdf, .TXT,png"` → `["pdf", "txt", "png"]`.
///
/// Items are separated by commas, semicolons or whitespace; each is
/// normalised with [`normalize_extension`] (which also drops stray quotes and
/// brackets, so a JSON-looking `"[\"pdf\", \"txt\"]"` works too). Empty items
/// are skipped and duplicates are kept only once, first occurrence first.
pub fn parse_extension_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in s.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        let ext = normalize_extension(item);
        if !ext.is_empty() && !out.contains(&ext) {
            out.push(ext);
        }
    }
    out
}

/// The real type of a file, as detected from its first bytes. Serialises as
/// `{"mime": …, "ext": …}`, the shape of JS `sniffType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sniffed {
    /// The MIME type, e.g. `"image/jpeg"`.
    pub mime: &'static str,
    /// The canonical extension for that type, e.g. `"jpg"`. Other extensions
    /// of the same family (`jpeg`, `jpe`) agree with it too; see
    /// [`head_agrees`].
    pub ext: &'static str,
}

/// A family of formats that share one signature. Agreement is judged by
/// family, not by exact type: every ZIP-based office format agrees with a ZIP
/// head, every ISO-BMFF file with any `ftyp` box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Zip,
    Ole,
    Mp3,
    Ftyp,
    Wav,
    Ogg,
    Bmp,
    Tiff,
    Gzip,
    SevenZip,
    Rar,
    Text,
}

/// Per binary family: the extensions that *require* it (`strict`: a head
/// without this signature is a mismatch) and extensions that may hold it but
/// may also hold other things (`loose`: this signature is accepted, but not
/// required). The `loose` lists only matter for extensions we otherwise do
/// not know: without them, a `.docm` (a ZIP) would be refused as "a known
/// binary signature on an unknown extension".
struct FamilyExts {
    family: Family,
    strict: &'static [&'static str],
    loose: &'static [&'static str],
}

const FAMILIES: &[FamilyExts] = &[
    FamilyExts {
        family: Family::Png,
        strict: &["png"],
        loose: &["apng"],
    },
    FamilyExts {
        family: Family::Jpeg,
        strict: &["jpg", "jpeg", "jpe"],
        loose: &["jfif", "jfi", "jif", "pjpeg", "pjp"],
    },
    FamilyExts {
        family: Family::Gif,
        strict: &["gif"],
        loose: &[],
    },
    FamilyExts {
        family: Family::Webp,
        strict: &["webp"],
        loose: &[],
    },
    FamilyExts {
        family: Family::Pdf,
        strict: &["pdf"],
        // Illustrator files are PDF-compatible and start with `%PDF-`.
        loose: &["ai"],
    },
    FamilyExts {
        family: Family::Zip,
        strict: &[
            "zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "jar", "apk",
        ],
        loose: &[
            "docm", "dotx", "dotm", "xlsm", "xlsb", "xltx", "xltm", "xlam", "pptm", "potx", "potm",
            "ppsx", "ppsm", "ppam", "sldx", "odg", "odf", "odc", "odb", "odm", "ott", "ots", "otp",
            "otg", "sxw", "sxc", "sxi", "sxd", "war", "ear", "aar", "aab", "ipa", "xpi", "kmz",
            "vsdx", "xps", "oxps", "3mf", "whl", "nupkg", "key", "pages", "numbers", "cbz", "appx",
            "msix", "vsix", "usdz", "ora", "sketch",
        ],
    },
    FamilyExts {
        family: Family::Ole,
        strict: &["doc", "xls", "ppt", "msg"],
        loose: &[
            "dot", "xlt", "pot", "pps", "msi", "pub", "vsd", "mpp", "wps",
        ],
    },
    FamilyExts {
        family: Family::Mp3,
        strict: &["mp3"],
        loose: &["mp2", "mpga", "mpa"],
    },
    FamilyExts {
        family: Family::Ftyp,
        strict: &["mp4", "m4a", "m4v", "mov", "heic", "heif", "avif"],
        loose: &[
            "m4b", "m4p", "m4r", "3gp", "3g2", "f4v", "f4a", "qt", "heics", "heifs", "avifs", "hif",
        ],
    },
    FamilyExts {
        family: Family::Wav,
        strict: &["wav"],
        loose: &["wave"],
    },
    FamilyExts {
        family: Family::Ogg,
        strict: &["ogg", "oga", "ogv"],
        loose: &["opus", "ogx", "spx"],
    },
    FamilyExts {
        family: Family::Bmp,
        strict: &["bmp"],
        loose: &["dib"],
    },
    FamilyExts {
        family: Family::Tiff,
        strict: &["tif", "tiff"],
        // Camera raw formats built on TIFF.
        loose: &["dng", "cr2", "nef", "arw", "pef", "srw"],
    },
    FamilyExts {
        family: Family::Gzip,
        strict: &["gz", "tgz"],
        loose: &["svgz", "emz", "wmz"],
    },
    FamilyExts {
        family: Family::SevenZip,
        strict: &["7z"],
        loose: &["cb7"],
    },
    FamilyExts {
        family: Family::Rar,
        strict: &["rar"],
        loose: &["cbr"],
    },
];

/// Extensions whose content is text: they agree only with a head that sniffs
/// as text (in any encoding, see [`sniff`]).
const TEXT_EXTS: &[&str] = &[
    "txt", "text", "md", "markdown", "csv", "tsv", "json", "xml", "html", "htm", "css", "js",
    "mjs", "cjs", "ts", "tsx", "jsx", "py", "rs", "c", "h", "cpp", "cc", "hpp", "java", "kt", "go",
    "rb", "php", "sh", "yaml", "yml", "toml", "ini", "cfg", "conf", "log", "svg", "sql", "tex",
    "rtf", "srt", "vtt",
];

const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
const OLE_SIG: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const SEVEN_ZIP_SIG: &[u8] = b"7z\xBC\xAF\x27\x1C";
const RAR4_SIG: &[u8] = b"Rar!\x1A\x07\x00";
const RAR5_SIG: &[u8] = b"Rar!\x1A\x07\x01\x00";

const fn sn(mime: &'static str, ext: &'static str) -> Sniffed {
    Sniffed { mime, ext }
}

/// Detect the real type of a file from its first bytes (SPEC §6 `sniffType`).
///
/// `head` may be any length. Binary signatures are tried first, then plain
/// text; `None` means "no known signature and not text" (or an empty head).
///
/// Text is text in any encoding (what `file-type` and libmagic call text):
///
/// * valid UTF-8 — a UTF-8 BOM is fine, and so is a multi-byte character cut
///   off at the very end, since the head is an arbitrary prefix of the file —
///   containing no NUL and no control characters other than tab, line feed,
///   carriage return, form feed and escape (ANSI colours in logs);
/// * UTF-16 or UTF-32 with a byte-order mark (Windows Notepad's "Unicode"),
///   under the same rule on its characters;
/// * otherwise a legacy 8-bit or multi-byte encoding (Windows-1256 Persian,
///   GBK, Big5, Latin-1, …): bytes that are not valid UTF-8 but hold no NUL,
///   no DEL and no C0 control byte other than the five above. Such encodings
///   put letters in `0x80–0xFF` (Windows-1256's `پ` is `0x81`), never in
///   `0x00–0x1F`, while binary data cannot avoid those bytes for long.
///
/// Weak signatures are checked more closely so that ordinary text is not
/// taken for a binary format: `ID3` must be followed by a real tag header,
/// `BM` by a known bitmap header size, and an MPEG audio frame header must be
/// layer II or III with a valid bitrate and sample rate (layer I is left out
/// because its header bytes, `FF FE`/`FF FF`, are a UTF-16 byte order mark and
/// `0xFF` padding far more often than an `.mp1` file).
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    sniff_family(head).map(|(_, s)| s)
}

fn sniff_family(head: &[u8]) -> Option<(Family, Sniffed)> {
    if head.is_empty() {
        return None;
    }
    if head.starts_with(PNG_SIG) {
        return Some((Family::Png, sn("image/png", "png")));
    }
    if head.starts_with(b"\xFF\xD8\xFF") {
        return Some((Family::Jpeg, sn("image/jpeg", "jpg")));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some((Family::Gif, sn("image/gif", "gif")));
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") {
        match &head[8..12] {
            b"WEBP" => return Some((Family::Webp, sn("image/webp", "webp"))),
            b"WAVE" => return Some((Family::Wav, sn("audio/wav", "wav"))),
            _ => {}
        }
    }
    if head.starts_with(b"%PDF-") {
        return Some((Family::Pdf, sn("application/pdf", "pdf")));
    }
    if head.starts_with(b"PK\x03\x04")
        || head.starts_with(b"PK\x05\x06")
        || head.starts_with(b"PK\x07\x08")
    {
        return Some((Family::Zip, sn("application/zip", "zip")));
    }
    if head.starts_with(OLE_SIG) {
        return Some((Family::Ole, sn("application/x-ole-storage", "doc")));
    }
    if let Some(s) = sniff_ftyp(head) {
        return Some((Family::Ftyp, s));
    }
    if is_id3(head) || is_mpeg_audio_frame(head) {
        return Some((Family::Mp3, sn("audio/mpeg", "mp3")));
    }
    if head.starts_with(b"OggS\x00") {
        // The first page carries the first codec header at offset 28.
        let ogg = if head.len() > 28 && head[28..].starts_with(b"\x80theora") {
            sn("video/ogg", "ogv")
        } else {
            sn("audio/ogg", "ogg")
        };
        return Some((Family::Ogg, ogg));
    }
    if is_bmp(head) {
        return Some((Family::Bmp, sn("image/bmp", "bmp")));
    }
    if head.starts_with(b"II*\x00") || head.starts_with(b"MM\x00*") {
        return Some((Family::Tiff, sn("image/tiff", "tiff")));
    }
    if head.starts_with(b"\x1F\x8B") {
        return Some((Family::Gzip, sn("application/gzip", "gz")));
    }
    if head.starts_with(SEVEN_ZIP_SIG) {
        return Some((Family::SevenZip, sn("application/x-7z-compressed", "7z")));
    }
    if head.starts_with(RAR4_SIG) || head.starts_with(RAR5_SIG) {
        return Some((Family::Rar, sn("application/vnd.rar", "rar")));
    }
    if is_text(head) {
        return Some((Family::Text, sn("text/plain", "txt")));
    }
    None
}

/// An ISO base media file (MP4, MOV, HEIF, AVIF, 3GP…): a `ftyp` box first.
/// The box size's top byte must be 0 (boxes are small), which also keeps
/// text that happens to contain "ftyp" at offset 4 from matching.
fn sniff_ftyp(head: &[u8]) -> Option<Sniffed> {
    if head.len() < 12 || head[0] != 0 || &head[4..8] != b"ftyp" {
        return None;
    }
    let brand = &head[8..12];
    let s = match brand {
        b"qt  " => sn("video/quicktime", "mov"),
        b"M4A " | b"M4B " | b"M4P " => sn("audio/mp4", "m4a"),
        b"M4V " | b"M4VH" | b"M4VP" => sn("video/x-m4v", "m4v"),
        b"avif" | b"avis" => sn("image/avif", "avif"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" => {
            sn("image/heic", "heic")
        }
        // Generic HEIF brands: the compatible brands say which codec.
        b"mif1" | b"msf1" => {
            if has_compatible_brand(head, &[b"avif", b"avis"]) {
                sn("image/avif", "avif")
            } else if has_compatible_brand(head, &[b"heic", b"heix", b"hevc", b"hevx"]) {
                sn("image/heic", "heic")
            } else {
                sn("image/heif", "heif")
            }
        }
        _ if brand.starts_with(b"3gp") => sn("video/3gpp", "3gp"),
        _ if brand.starts_with(b"3g2") => sn("video/3gpp2", "3g2"),
        _ => sn("video/mp4", "mp4"),
    };
    Some(s)
}

/// Compatible brands of a `ftyp` box: 4-byte codes from offset 16 to the end
/// of the box (or of the head, if the head is shorter).
fn has_compatible_brand(head: &[u8], wanted: &[&[u8; 4]]) -> bool {
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let end = size.min(head.len());
    if end <= 16 {
        return false;
    }
    head[16..end]
        .chunks_exact(4)
        .any(|b| wanted.iter().any(|w| b == &w[..]))
}

/// An ID3v2 tag header: "ID3", major version 2–4, a revision, flags, and a
/// four-byte "syncsafe" size whose bytes all have the top bit clear.
fn is_id3(head: &[u8]) -> bool {
    head.len() >= 10
        && head.starts_with(b"ID3")
        && (2..=4).contains(&head[3])
        && head[4] != 0xFF
        && head[6..10].iter().all(|b| b & 0x80 == 0)
}

/// An MPEG audio frame header (MP3 without a tag): 11 sync bits, a valid
/// version, layer II or III, a valid bitrate index and sample rate.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    if head.len() < 3 || head[0] != 0xFF || head[1] & 0xE0 != 0xE0 {
        return false;
    }
    let version = (head[1] >> 3) & 0b11; // 0b01 is reserved
    let layer = (head[1] >> 1) & 0b11; // 0b01 = III, 0b10 = II, 0b11 = I, 0b00 reserved
    let bitrate = head[2] >> 4; // 0b1111 is invalid
    let rate = (head[2] >> 2) & 0b11; // 0b11 is reserved
    version != 0b01 && (layer == 0b01 || layer == 0b10) && bitrate != 0b1111 && rate != 0b11
}

/// A Windows bitmap: "BM" and, at offset 14, the size of a known DIB header.
/// "BM" alone is too common at the start of text to mean anything.
fn is_bmp(head: &[u8]) -> bool {
    if head.len() < 18 || !head.starts_with(b"BM") {
        return false;
    }
    let dib = u32::from_le_bytes([head[14], head[15], head[16], head[17]]);
    matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// Text in some encoding (see [`sniff`]): UTF-8, UTF-16/32 with a BOM, or a
/// legacy encoding.
fn is_text(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(t) => text_chars(t.chars()),
        // `error_len() == None` means the input ended inside a character.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).is_ok_and(|t| text_chars(t.chars()))
        }
        Err(_) => is_bom_text(head).unwrap_or_else(|| is_legacy_text(head)),
    }
}

/// No control characters other than `\t \n \r \x0c \x1b` (a BOM is an
/// ordinary character, U+FEFF, and passes).
fn text_chars(mut chars: impl Iterator<Item = char>) -> bool {
    !chars.any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c' | '\x1b'))
}

/// `Some(verdict)` for a head that starts with a UTF-32 or UTF-16 byte-order
/// mark: its characters decoded (a unit or a surrogate pair cut off at the
/// end is allowed); `None` without a BOM.
fn is_bom_text(head: &[u8]) -> Option<bool> {
    let u32s = |body: &[u8], be: bool| {
        let units = body.chunks_exact(4).map(|b| {
            let w = [b[0], b[1], b[2], b[3]];
            if be {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        });
        let chars: Option<Vec<char>> = units.map(char::from_u32).collect();
        chars.is_some_and(|c| text_chars(c.into_iter()))
    };
    let u16s = |body: &[u8], be: bool| {
        let units = body.chunks_exact(2).map(|b| {
            if be {
                u16::from_be_bytes([b[0], b[1]])
            } else {
                u16::from_le_bytes([b[0], b[1]])
            }
        });
        let decoded: Vec<_> = char::decode_utf16(units).collect();
        let n = decoded.len();
        // Only a high surrogate cut off by the end of the head may be unpaired.
        decoded
            .iter()
            .enumerate()
            .all(|(i, c)| c.is_ok() || i + 1 == n)
            && text_chars(decoded.into_iter().filter_map(Result::ok))
    };
    if let Some(body) = head.strip_prefix(b"\xFF\xFE\x00\x00") {
        Some(u32s(body, false))
    } else if let Some(body) = head.strip_prefix(b"\x00\x00\xFE\xFF") {
        Some(u32s(body, true))
    } else if let Some(body) = head.strip_prefix(b"\xFF\xFE") {
        Some(u16s(body, false))
    } else {
        head.strip_prefix(b"\xFE\xFF").map(|body| u16s(body, true))
    }
}

/// Bytes of a legacy text encoding: no NUL, no DEL, no C0 control other than
/// `\t \n \r \x0c \x1b`.
fn is_legacy_text(head: &[u8]) -> bool {
    !head
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
}

/// The binary family whose `strict` list holds `ext`, if any.
fn strict_family(ext: &str) -> Option<Family> {
    FAMILIES
        .iter()
        .find(|f| f.strict.contains(&ext))
        .map(|f| f.family)
}

/// Whether `ext` is listed (strictly or loosely) for a binary family.
fn family_accepts(family: Family, ext: &str) -> bool {
    FAMILIES
        .iter()
        .any(|f| f.family == family && (f.strict.contains(&ext) || f.loose.contains(&ext)))
}

/// Does the content agree with the extension? (SPEC §3: a mismatch answers
/// `file_type_mismatch`.)
///
/// `ext` is normalised first (see [`normalize_extension`]), so `"PNG"` and
/// `".png"` work as well as [`extension`]'s output. The rules:
///
/// * An empty head agrees: there is nothing to judge.
/// * An extension whose format has a signature (png, jpg/jpeg/jpe, gif, webp,
///   pdf, zip and the ZIP-based docx/xlsx/pptx/odt/ods/odp/epub/jar/apk,
///   doc/xls/ppt/msg, mp3, mp4/m4a/m4v/mov/heic/heif/avif, wav, ogg/oga/ogv,
///   bmp, tif/tiff, gz/tgz, 7z, rar) agrees only with a head of that family.
///   Text, or anything unrecognised, on such an extension is a mismatch
///   (text named `.png`).
/// * A text extension (txt, md, csv, json, html, svg, rtf, source code, …)
///   agrees only with a head that sniffs as text: a PNG named `.txt` is a
///   mismatch, and so are unrecognised binary bytes.
/// * Any other extension, including `""`, agrees with anything except a
///   known *binary* signature (a PNG named `.xyz` is a mismatch; random bytes
///   or text named `.xyz` agree) — unless the extension is a known other name
///   for that binary family (a ZIP named `.docm`, a TIFF named `.dng`).
///
/// Agreement is by family, not by exact type: a JPEG agrees with both `.jpg`
/// and `.jpeg`, any ZIP with `.docx`, any `ftyp` box with `.mov` or `.heic`.
pub fn head_agrees(ext: &str, head: &[u8]) -> bool {
    if head.is_empty() {
        return true;
    }
    let ext = normalize_extension(ext);
    let ext = ext.as_str();
    let sniffed = sniff_family(head).map(|(f, _)| f);
    if let Some(required) = strict_family(ext) {
        return sniffed == Some(required);
    }
    if TEXT_EXTS.contains(&ext) {
        return sniffed == Some(Family::Text);
    }
    match sniffed {
        None | Some(Family::Text) => true,
        Some(family) => family_accepts(family, ext),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- sample heads -------------------------------------------------

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x06\0\0\0";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    const GIF87: &[u8] = b"GIF87a\x01\0\x01\0\x80\0\0";
    const GIF89: &[u8] = b"GIF89a\x01\0\x01\0\x80\0\0";
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0";
    const WAV: &[u8] = b"RIFF\x24\x08\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n";
    const ZIP: &[u8] = b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0[Content_Types].xml";
    const ZIP_EMPTY: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    const ZIP_SPANNED: &[u8] = b"PK\x07\x08PK\x03\x04\x14\0\0\0";
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0\0\0\0\0";
    const MP3_ID3: &[u8] = b"ID3\x04\0\0\0\0\x23\x76TIT2\0\0\0\x05";
    const MP3_FRAME: &[u8] = b"\xFF\xFB\x90\x64\0\0\0\0\0\0\0\0";
    const MP3_MPEG2: &[u8] = b"\xFF\xF3\x48\xC4\0\0\0\0";
    const MP4: &[u8] = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";
    const MOV: &[u8] = b"\0\0\0\x14ftypqt  \x20\x05\x03\0qt  ";
    const M4A: &[u8] = b"\0\0\0\x1CftypM4A \0\0\0\0M4A mp42isom";
    const HEIC: &[u8] = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
    const AVIF: &[u8] = b"\0\0\0\x1Cftypavif\0\0\0\0avifmif1miaf";
    const MIF1_AVIF: &[u8] = b"\0\0\0\x1Cftypmif1\0\0\0\0mif1avifmiaf";
    const MIF1_HEIC: &[u8] = b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic";
    const MIF1_PLAIN: &[u8] = b"\0\0\0\x14ftypmif1\0\0\0\0mif1";
    const GP3: &[u8] = b"\0\0\0\x14ftyp3gp4\0\0\x02\0isom";
    const M4V: &[u8] = b"\0\0\0\x1CftypM4V \0\0\0\x01M4V M4A mp42";
    const OGG: &[u8] =
        b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x55\x1D\x3F\x8F\x01\x1E\x01vorbis\0\0\0\0";
    const OGV: &[u8] =
        b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x55\x1D\x3F\x8F\x01\x2A\x80theora\x03\x02";
    const BMP: &[u8] = b"BM\x36\x00\x0C\x00\0\0\0\0\x36\0\0\0\x28\0\0\0\x00\x01\0\0";
    const TIFF_LE: &[u8] = b"II*\0\x08\0\0\0\x0E\0";
    const TIFF_BE: &[u8] = b"MM\0*\0\0\0\x08\0\x0E";
    const GZIP: &[u8] = b"\x1F\x8B\x08\0\0\0\0\0\0\x03";
    const SEVEN_ZIP: &[u8] = b"7z\xBC\xAF\x27\x1C\0\x04";
    const RAR4: &[u8] = b"Rar!\x1A\x07\x00\xCF\x90\x73\0";
    const RAR5: &[u8] = b"Rar!\x1A\x07\x01\x00\x33\x92\xB5\xE5";
    const TEXT: &[u8] = b"Hello, world!\r\n\tIndented line\n";
    const PERSIAN: &str = "سلام دنیا! این یک فایل متنی فارسی است.\nخط دوم ۱۲۳۴۵\n";
    const RANDOM: &[u8] = b"\x00\x13\x37\xC0\xFE\xBA\xBE\x01\x02\x03\x99\x88";

    fn mime(head: &[u8]) -> Option<&'static str> {
        sniff(head).map(|s| s.mime)
    }

    fn ext_of(head: &[u8]) -> Option<&'static str> {
        sniff(head).map(|s| s.ext)
    }

    // ---- names ---------------------------------------------------------

    #[test]
    fn ordinary_names_are_valid() {
        for n in [
            "report.pdf",
            "photo.JPG",
            "noext",
            ".bashrc",
            "a.jpg.php",
            "Report.PDF. . ",
            "گزارش ماهانه.pdf",
            "résumé (final) [v2]: draft*.docx",
            "name with spaces.txt",
        ] {
            assert_eq!(check_name(n), Ok(()), "{n:?}");
        }
    }

    #[test]
    fn empty_names_are_refused() {
        for n in ["", ".", "..", "...", " ", " . . ", "\u{3000}", "\t"] {
            assert_eq!(check_name(n), Err(NameProblem::Empty), "{n:?}");
        }
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(check_name("a\0.txt"), Err(NameProblem::Nul));
        assert_eq!(check_name("evil.php\0.jpg"), Err(NameProblem::Nul));
    }

    #[test]
    fn path_separators_are_refused() {
        for n in [
            "../etc/passwd",
            "dir/file.txt",
            "C:\\Windows\\x.dll",
            "a\\b",
            "/abs",
        ] {
            assert_eq!(check_name(n), Err(NameProblem::PathSeparator), "{n:?}");
        }
    }

    #[test]
    fn bidi_controls_are_refused() {
        assert_eq!(
            check_name("invoice\u{202E}fdp.exe"),
            Err(NameProblem::BidiControl)
        );
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let n = format!("a{c}b.txt");
            assert_eq!(check_name(&n), Err(NameProblem::BidiControl), "{c:?}");
        }
        // Neighbours of the ranges are not bidi controls.
        assert_eq!(check_name("a\u{2029}b.txt"), Ok(()));
        assert_eq!(check_name("a\u{206A}b.txt"), Ok(()));
        assert_eq!(check_name("a\u{200D}b.txt"), Ok(())); // ZWJ, used in Persian
    }

    #[test]
    fn control_characters_are_refused() {
        for c in [
            '\u{1}', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{80}', '\u{9f}',
        ] {
            let n = format!("a{c}b.txt");
            assert_eq!(check_name(&n), Err(NameProblem::ControlChar), "{c:?}");
        }
    }

    #[test]
    fn long_names_are_refused_by_bytes() {
        let ok = format!("{}.txt", "a".repeat(251));
        assert_eq!(ok.len(), 255);
        assert_eq!(check_name(&ok), Ok(()));
        let long = format!("{}.txt", "a".repeat(252));
        assert_eq!(check_name(&long), Err(NameProblem::TooLong));
        // 128 Persian letters are 256 bytes though only 128 characters.
        let persian = "س".repeat(128);
        assert_eq!(check_name(&persian), Err(NameProblem::TooLong));
    }

    #[test]
    fn problems_have_a_fixed_priority() {
        // NUL wins over the path separator and the length.
        let n = format!("a/\0{}", "x".repeat(300));
        assert_eq!(check_name(&n), Err(NameProblem::Nul));
        assert_eq!(check_name("a/\u{202E}"), Err(NameProblem::PathSeparator));
        assert_eq!(check_name("\u{1}\u{202E}"), Err(NameProblem::BidiControl));
    }

    #[test]
    fn reasons_are_stable() {
        assert_eq!(NameProblem::Empty.reason(), "file name is empty");
        assert_eq!(
            NameProblem::BidiControl.reason(),
            "file name contains a bidi control character"
        );
        assert_eq!(
            NameProblem::TooLong.to_string(),
            "file name is longer than 255 bytes"
        );
        for p in [
            NameProblem::Empty,
            NameProblem::Nul,
            NameProblem::PathSeparator,
            NameProblem::BidiControl,
            NameProblem::ControlChar,
            NameProblem::TooLong,
        ] {
            assert!(p.reason().starts_with("file name "));
        }
    }

    // ---- extensions ----------------------------------------------------

    #[test]
    fn extension_is_after_the_last_dot() {
        assert_eq!(extension("a.jpg.php"), "php");
        assert_eq!(extension("report.pdf"), "pdf");
        assert_eq!(extension("archive.tar.gz"), "gz");
        assert_eq!(extension("Photo.JPEG"), "jpeg");
        assert_eq!(extension("گزارش.PDF"), "pdf");
    }

    #[test]
    fn extension_ignores_trailing_dots_and_spaces() {
        assert_eq!(extension("Report.PDF. . "), "pdf");
        assert_eq!(extension("a.txt."), "txt");
        assert_eq!(extension("a.txt   "), "txt");
        assert_eq!(extension("a.exe . ..  "), "exe");
    }

    #[test]
    fn extension_edge_cases() {
        assert_eq!(extension("noext"), "");
        assert_eq!(extension("noext."), "");
        assert_eq!(extension(""), "");
        assert_eq!(extension("..."), "");
        assert_eq!(extension(".bashrc"), "bashrc");
        // A space inside the extension is kept, so it matches nothing.
        assert_eq!(extension("a. pdf"), " pdf");
    }

    #[test]
    fn extension_lists_are_normalised() {
        assert_eq!(parse_extension_list("pdf, .TXT,png"), ["pdf", "txt", "png"]);
        assert_eq!(
            parse_extension_list("  .Jpg ;jpeg  docx "),
            ["jpg", "jpeg", "docx"]
        );
        assert_eq!(parse_extension_list("pdf,,pdf, PDF ,"), ["pdf"]);
        assert_eq!(parse_extension_list(r#"["pdf", "txt"]"#), ["pdf", "txt"]);
        assert!(parse_extension_list("").is_empty());
        assert!(parse_extension_list(" , . ,").is_empty());
        assert_eq!(normalize_extension(" ..PNG "), "png");
    }

    // ---- sniffing ------------------------------------------------------

    #[test]
    fn sniffs_every_signature() {
        let cases: &[(&[u8], &str, &str)] = &[
            (PNG, "image/png", "png"),
            (JPEG, "image/jpeg", "jpg"),
            (GIF87, "image/gif", "gif"),
            (GIF89, "image/gif", "gif"),
            (WEBP, "image/webp", "webp"),
            (WAV, "audio/wav", "wav"),
            (PDF, "application/pdf", "pdf"),
            (ZIP, "application/zip", "zip"),
            (ZIP_EMPTY, "application/zip", "zip"),
            (ZIP_SPANNED, "application/zip", "zip"),
            (OLE, "application/x-ole-storage", "doc"),
            (MP3_ID3, "audio/mpeg", "mp3"),
            (MP3_FRAME, "audio/mpeg", "mp3"),
            (MP3_MPEG2, "audio/mpeg", "mp3"),
            (MP4, "video/mp4", "mp4"),
            (MOV, "video/quicktime", "mov"),
            (M4A, "audio/mp4", "m4a"),
            (M4V, "video/x-m4v", "m4v"),
            (HEIC, "image/heic", "heic"),
            (AVIF, "image/avif", "avif"),
            (MIF1_AVIF, "image/avif", "avif"),
            (MIF1_HEIC, "image/heic", "heic"),
            (MIF1_PLAIN, "image/heif", "heif"),
            (GP3, "video/3gpp", "3gp"),
            (OGG, "audio/ogg", "ogg"),
            (OGV, "video/ogg", "ogv"),
            (BMP, "image/bmp", "bmp"),
            (TIFF_LE, "image/tiff", "tiff"),
            (TIFF_BE, "image/tiff", "tiff"),
            (GZIP, "application/gzip", "gz"),
            (SEVEN_ZIP, "application/x-7z-compressed", "7z"),
            (RAR4, "application/vnd.rar", "rar"),
            (RAR5, "application/vnd.rar", "rar"),
            (TEXT, "text/plain", "txt"),
        ];
        for (head, mime, ext) in cases {
            assert_eq!(sniff(head), Some(Sniffed { mime, ext }), "{head:?}");
        }
    }

    #[test]
    fn jpeg_is_image_jpeg_jpg() {
        assert_eq!(
            sniff(JPEG),
            Some(Sniffed {
                mime: "image/jpeg",
                ext: "jpg"
            })
        );
        assert_eq!(sniff(b"\xFF\xD8\xFF"), sniff(JPEG));
    }

    #[test]
    fn sniffed_serialises_like_sniff_type() {
        let v = serde_json::to_value(sniff(JPEG).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"mime": "image/jpeg", "ext": "jpg"}));
    }

    #[test]
    fn empty_and_unknown_heads_sniff_as_nothing() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(RANDOM), None);
        assert_eq!(sniff(b"\0"), None);
        assert_eq!(sniff(b"\x80\x81\x02\x83"), None);
        // High bytes alone are text in some 8-bit encoding (Windows-1256
        // reads «€پ‚ƒ»), as libmagic says too.
        assert_eq!(
            sniff(b"\x80\x81\x82\x83").map(|s| s.mime),
            Some("text/plain")
        );
    }

    #[test]
    fn incomplete_signatures_do_not_match() {
        assert_eq!(mime(&PNG[..7]), None);
        // Two bytes of a JPEG signature are no JPEG (as Latin-1 they are «ÿØ»).
        assert_eq!(mime(b"\xFF\xD8"), Some("text/plain"));
        assert_eq!(mime(b"\xFF\xD8\x00"), None);
        assert_eq!(mime(b"RIFF\x24\0\0\0WEB"), None);
        assert_eq!(mime(&MP4[..11]), None);
        assert_eq!(mime(&OLE[..7]), None);
        // Text-looking prefixes of signatures are text, not the format.
        assert_eq!(mime(b"%PDF"), Some("text/plain"));
        assert_eq!(mime(b"GIF8"), Some("text/plain"));
    }

    #[test]
    fn weak_signatures_need_their_headers() {
        // Ordinary text that starts like a weak signature stays text.
        assert_eq!(
            mime(b"BMW is a car maker, founded in 1916.\n"),
            Some("text/plain")
        );
        assert_eq!(
            mime(b"ID3 tags hold the title of a song.\n"),
            Some("text/plain")
        );
        assert_eq!(mime(b"OggS is how Ogg pages start\n"), Some("text/plain"));
        // "ftyp" at offset 4 in text is not an ftyp box.
        assert_eq!(mime(b"abcdftypisom and more text"), Some("text/plain"));
        // BM with an unknown DIB header size is not a bitmap.
        assert_eq!(mime(b"BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x29\0\0\0"), None);
    }

    #[test]
    fn mpeg_audio_frame_checks() {
        // (Heads that are no MP3 may still read as 8-bit text: not "mp3" is
        // what is checked.)
        // Layer III MPEG-1, 128 kbit/s, 44.1 kHz.
        assert_eq!(ext_of(b"\xFF\xFB\x90"), Some("mp3"));
        // Layer II.
        assert_eq!(ext_of(b"\xFF\xFD\x90"), Some("mp3"));
        // Reserved layer.
        assert_ne!(ext_of(b"\xFF\xF9\x90"), Some("mp3"));
        // Reserved version.
        assert_ne!(ext_of(b"\xFF\xEB\x90"), Some("mp3"));
        // Invalid bitrate / reserved sample rate.
        assert_ne!(ext_of(b"\xFF\xFB\xF0"), Some("mp3"));
        assert_ne!(ext_of(b"\xFF\xFB\x9C"), Some("mp3"));
        // Layer I is left out: FF FE is a UTF-16 BOM (here "hi", text), FF FF
        // is padding (not audio; bytes with no control byte read as 8-bit
        // text, as libmagic reads them).
        assert_eq!(ext_of(b"\xFF\xFEh\0i\0"), Some("txt"));
        assert_eq!(ext_of(b"\xFF\xFF\xFF\xFF"), Some("txt"));
        assert_eq!(ext_of(b"\xFF\xFF\x00\x00"), None);
        // Too short to judge.
        assert_ne!(ext_of(b"\xFF\xFB"), Some("mp3"));
        // A bad ID3 header (size byte with the top bit set) is not a tag.
        assert_ne!(ext_of(b"ID3\x04\0\0\x80\0\0\0"), Some("mp3"));
    }

    #[test]
    fn text_detection() {
        assert_eq!(mime(TEXT), Some("text/plain"));
        assert_eq!(mime(PERSIAN.as_bytes()), Some("text/plain"));
        // BOM, form feed and ANSI escape are fine.
        assert_eq!(mime(b"\xEF\xBB\xBFhello"), Some("text/plain"));
        assert_eq!(mime(b"page 1\x0cpage 2"), Some("text/plain"));
        assert_eq!(mime(b"\x1b[31mred\x1b[0m\n"), Some("text/plain"));
        // NUL, other C0 controls, DEL and C1 controls are not text.
        assert_eq!(mime(b"hello\0world"), None);
        assert_eq!(mime(b"hello\x01world"), None);
        assert_eq!(mime(b"hello\x7fworld"), None);
        assert_eq!(mime("hello\u{85}world".as_bytes()), None);
        // Bytes that are not UTF-8 and hold no control byte are text in
        // some legacy encoding (here Windows-1256 «سلام»).
        assert_eq!(mime(b"\xD3\xE1\xC7\xE3 hello"), Some("text/plain"));
        // ...but not with a control byte among them.
        assert_eq!(mime(b"\xD3\xE1\x01\xC7\xE3"), None);
        assert_eq!(mime(b"\xD3\xE1\x7F\xC7\xE3"), None);
    }

    // Real encoded text, as Python's codecs write it (issue 8, "also seen").
    /// «سلام! پيام گرم، چاي و ژاله. کتاب» in Windows-1256: پ گ چ ژ ک are
    /// bytes 0x81 0x90 0x8D 0x8E 0x98, the C1 range of other code pages.
    const FA_CP1256: &[u8] = b"\xD3\xE1\xC7\xE3! \x81\xED\xC7\xE3 \x90\xD1\xE3\xA1 \x8D\xC7\xED \xE6 \x8E\xC7\xE1\xE5. \x98\xCA\xC7\xC8\x0D\x0A";
    /// «你好，世界。这是一个文本文件。» in GBK.
    const ZH_GBK: &[u8] = b"\xC4\xE3\xBA\xC3\xA3\xAC\xCA\xC0\xBD\xE7\xA1\xA3\xD5\xE2\xCA\xC7\xD2\xBB\xB8\xF6\xCE\xC4\xB1\xBE\xCE\xC4\xBC\xFE\xA1\xA3\x0D\x0A";
    /// «你好，世界。這是一個文字檔。» in Big5 (trail bytes in ASCII's range).
    const ZH_BIG5: &[u8] = b"\xA7A\xA6n\xA1A\xA5@\xAC\xC9\xA1C\xB3o\xACO\xA4@\xAD\xD3\xA4\xE5\xA6r\xC0\xC9\xA1C\x0D\x0A";
    /// «سلام دنیا» as Windows Notepad saves "Unicode": UTF-16LE with a BOM.
    const FA_UTF16LE: &[u8] =
        b"\xFF\xFE3\x06D\x06'\x06E\x06 \x00/\x06F\x06\xCC\x06'\x06\x0D\x00\x0A\x00";
    const EN_UTF16BE: &[u8] = b"\xFE\xFF\x00H\x00e\x00l\x00l\x00o\x00\x0D\x00\x0A";
    const EN_UTF32LE: &[u8] = b"\xFF\xFE\x00\x00H\x00\x00\x00i\x00\x00\x00\x0A\x00\x00\x00";

    #[test]
    fn text_in_any_encoding_is_text() {
        for (name, head) in [
            ("cp1256", FA_CP1256),
            ("gbk", ZH_GBK),
            ("big5", ZH_BIG5),
            ("utf-16le", FA_UTF16LE),
            ("utf-16be", EN_UTF16BE),
            ("utf-32le", EN_UTF32LE),
        ] {
            assert!(
                std::str::from_utf8(head).is_err(),
                "{name} is not UTF-8 here"
            );
            assert_eq!(mime(head), Some("text/plain"), "{name}");
            for ext in ["txt", "csv", "md", "srt"] {
                assert!(head_agrees(ext, head), "{name} named .{ext}");
            }
            // Text named .png (or .pdf) is still a mismatch.
            assert!(!head_agrees("png", head), "{name} named .png");
            assert!(!head_agrees("pdf", head), "{name} named .pdf");
        }
    }

    #[test]
    fn text_with_a_bom_is_judged_on_its_characters() {
        // A UTF-16 unit cut in two, or a surrogate pair cut, at the end: text.
        assert_eq!(
            mime(&FA_UTF16LE[..FA_UTF16LE.len() - 1]),
            Some("text/plain")
        );
        let pair = b"\xFF\xFEa\x00\x3D\xD8\x00\xDE"; // "a😀"
        assert_eq!(mime(pair), Some("text/plain"));
        assert_eq!(mime(&pair[..6]), Some("text/plain"));
        // A lone surrogate before the end, or a control character: not text.
        assert_eq!(mime(b"\xFF\xFE\x00\xDCa\x00"), None);
        assert_eq!(mime(b"\xFF\xFEa\x00\x01\x00"), None);
        assert_eq!(mime(b"\xFF\xFE\x00\x00\x00\x00\x11\x00"), None);
        // A BOM-like start that is a binary signature stays binary.
        assert_eq!(mime(MP3_FRAME), Some("audio/mpeg"));
    }

    #[test]
    fn text_cut_inside_a_character_is_still_text() {
        let bytes = PERSIAN.as_bytes();
        // Cut every possible way: always text.
        for end in 1..=bytes.len() {
            assert_eq!(mime(&bytes[..end]), Some("text/plain"), "cut at {end}");
        }
        // A 3- and 4-byte character cut off at the end.
        let s = "ok €".as_bytes();
        assert_eq!(mime(&s[..s.len() - 1]), Some("text/plain"));
        assert_eq!(mime(&s[..s.len() - 2]), Some("text/plain"));
        let s = "ok 😀".as_bytes();
        assert_eq!(mime(&s[..s.len() - 1]), Some("text/plain"));
        // A broken character before the end is not UTF-8, but still text in
        // some 8-bit encoding (Windows-1252 reads «ok â‚ more»)...
        assert_eq!(mime(b"ok \xE2\x82 more"), Some("text/plain"));
        // ...unless a control byte says it is binary.
        assert_eq!(mime(b"ok \xE2\x82\x02more"), None);
    }

    // ---- agreement -----------------------------------------------------

    #[test]
    fn spec_examples() {
        // A PNG named .txt is a mismatch.
        assert!(!head_agrees("txt", PNG));
        // Text named .png is a mismatch.
        assert!(!head_agrees("png", TEXT));
        // A ZIP head on .docx/.xlsx/.pptx agrees.
        for ext in ["docx", "xlsx", "pptx"] {
            assert!(head_agrees(ext, ZIP), "{ext}");
        }
        // JPEG agrees with both .jpg and .jpeg.
        assert!(head_agrees("jpg", JPEG));
        assert!(head_agrees("jpeg", JPEG));
        assert!(head_agrees("jpe", JPEG));
    }

    #[test]
    fn every_signature_agrees_with_its_own_extensions() {
        let cases: &[(&[u8], &[&str])] = &[
            (PNG, &["png"]),
            (JPEG, &["jpg", "jpeg", "jpe"]),
            (GIF87, &["gif"]),
            (GIF89, &["gif"]),
            (WEBP, &["webp"]),
            (PDF, &["pdf"]),
            (
                ZIP,
                &[
                    "zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "jar", "apk",
                ],
            ),
            (ZIP_EMPTY, &["zip", "docx"]),
            (ZIP_SPANNED, &["zip"]),
            (OLE, &["doc", "xls", "ppt", "msg"]),
            (MP3_ID3, &["mp3"]),
            (MP3_FRAME, &["mp3"]),
            (MP4, &["mp4", "m4a", "m4v", "mov", "heic", "heif", "avif"]),
            (MOV, &["mov", "mp4"]),
            (M4A, &["m4a", "mp4"]),
            (HEIC, &["heic", "heif", "avif", "mp4"]),
            (AVIF, &["avif", "heic"]),
            (WAV, &["wav"]),
            (OGG, &["ogg", "oga", "ogv"]),
            (OGV, &["ogv", "ogg"]),
            (BMP, &["bmp"]),
            (TIFF_LE, &["tif", "tiff"]),
            (TIFF_BE, &["tif", "tiff"]),
            (GZIP, &["gz", "tgz"]),
            (SEVEN_ZIP, &["7z"]),
            (RAR4, &["rar"]),
            (RAR5, &["rar"]),
        ];
        for (head, exts) in cases {
            for ext in *exts {
                assert!(head_agrees(ext, head), "{ext} with {head:?}");
            }
        }
    }

    #[test]
    fn signature_extensions_refuse_other_families() {
        let heads: &[&[u8]] = &[
            PNG, JPEG, GIF89, WEBP, PDF, ZIP, OLE, MP3_FRAME, MP4, WAV, OGG, BMP, TIFF_LE, GZIP,
            SEVEN_ZIP, RAR5,
        ];
        for fam in FAMILIES {
            for ext in fam.strict {
                for head in heads {
                    let own = sniff_family(head).map(|(f, _)| f) == Some(fam.family);
                    assert_eq!(head_agrees(ext, head), own, "{ext} with {head:?}");
                }
                // Text and unknown bytes never agree with a signature extension.
                assert!(!head_agrees(ext, TEXT), "{ext} with text");
                assert!(!head_agrees(ext, PERSIAN.as_bytes()), "{ext} with Persian");
                assert!(!head_agrees(ext, RANDOM), "{ext} with random bytes");
            }
        }
        // The confusable pairs, spelled out.
        assert!(!head_agrees("webp", WAV));
        assert!(!head_agrees("wav", WEBP));
        assert!(!head_agrees("docx", OLE));
        assert!(!head_agrees("doc", ZIP));
        assert!(!head_agrees("mp3", MP4));
        assert!(!head_agrees("m4a", MP3_ID3));
    }

    #[test]
    fn text_extensions() {
        for ext in [
            "txt", "md", "markdown", "csv", "tsv", "json", "xml", "html", "htm", "css", "js", "ts",
            "py", "rs", "c", "h", "cpp", "java", "go", "rb", "php", "sh", "yaml", "yml", "toml",
            "ini", "log", "svg", "sql", "tex", "rtf",
        ] {
            assert!(head_agrees(ext, TEXT), "{ext}");
            assert!(head_agrees(ext, PERSIAN.as_bytes()), "{ext}");
            assert!(!head_agrees(ext, PNG), "{ext}");
            assert!(!head_agrees(ext, ZIP), "{ext}");
            assert!(!head_agrees(ext, RANDOM), "{ext}");
        }
        assert!(head_agrees("rtf", b"{\\rtf1\\ansi\\deff0 {\\fonttbl"));
        assert!(head_agrees("svg", b"<?xml version=\"1.0\"?>\n<svg xmlns="));
        let persian = PERSIAN.as_bytes();
        assert!(head_agrees("txt", &persian[..persian.len() - 1]));
        assert!(head_agrees("csv", b"\xEF\xBB\xBFname,age\n"));
    }

    #[test]
    fn unknown_extensions() {
        // A known binary signature on an unknown extension is a mismatch.
        assert!(!head_agrees("xyz", PNG));
        assert!(!head_agrees("exe", PDF));
        assert!(!head_agrees("", JPEG));
        // Text or unrecognised bytes agree.
        assert!(head_agrees("xyz", RANDOM));
        assert!(head_agrees("xyz", TEXT));
        assert!(head_agrees("", TEXT));
        assert!(head_agrees("bin", b"MZ\x90\0\x03\0\0\0"));
        // ...unless the extension is a known other name for the family.
        assert!(head_agrees("docm", ZIP));
        assert!(head_agrees("dng", TIFF_LE));
        assert!(head_agrees("3gp", GP3));
        assert!(head_agrees("apng", PNG));
        assert!(head_agrees("key", ZIP));
        assert!(head_agrees("key", b"-----BEGIN PRIVATE KEY-----\n"));
        assert!(!head_agrees("docm", PNG));
    }

    #[test]
    fn empty_head_agrees_with_anything() {
        for ext in ["png", "txt", "xyz", "", "docx"] {
            assert!(head_agrees(ext, b""), "{ext}");
        }
    }

    #[test]
    fn agreement_normalises_the_extension() {
        assert!(head_agrees("PNG", PNG));
        assert!(head_agrees(".Jpeg", JPEG));
        assert!(!head_agrees(".TXT", PNG));
        assert!(head_agrees(&extension("Photo.JPG. "), JPEG));
        // a.jpg.php is judged as php: text agrees, a JPEG does not.
        assert!(!head_agrees(&extension("a.jpg.php"), JPEG));
        assert!(head_agrees(&extension("a.jpg.php"), b"<?php echo 1; ?>"));
    }
}
