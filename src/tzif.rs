//! TZif files (RFC 8536) turned into the compact zone records the crate
//! embeds. Used at build time only (build.rs includes this file): the
//! crate carries no TZif reader, just [`crate::zone`]'s record reader.
//!
//! A record is what the calendar needs from a zone and nothing else: the
//! UTC offset before the first transition, every transition (instant and
//! new offset), and the POSIX TZ rule for instants after the last one.
//! Abbreviations and daylight flags are dropped. Numbers are zigzag LEB128
//! varints and transitions are deltas from the previous one, so the records
//! of every zone in the database take about 110 KB (17 KB gzipped) where the
//! TZif files take 207 KB (49 KB gzipped):
//!
//! ```text
//! varint n, varint initial_offset,
//! n × (varint Δinstant, varint Δoffset),   (from 0 and from initial_offset)
//! POSIX TZ string, b'\n'
//! ```

/// The parts of a TZif file (version 2 or later) a record keeps.
pub struct Zone {
    /// Transition instants, ascending (unix seconds).
    pub times: Vec<i64>,
    /// The offset (seconds east of UTC) in effect from each transition.
    pub offsets: Vec<i32>,
    /// The offset before the first transition (local time type 0).
    pub initial: i32,
    /// The footer's POSIX TZ string (may be empty).
    pub footer: String,
}

/// Reads a TZif file's version 2+ data block and footer.
pub fn parse(data: &[u8]) -> Result<Zone, String> {
    let mut r = Cursor(data);
    let v1 = Header::read(&mut r)?;
    if v1.version < b'2' {
        return Err("TZif version 1 has no 64-bit data".into());
    }
    r.skip(v1.block_len(4))?;
    let h = Header::read(&mut r)?;
    let mut times = Vec::with_capacity(h.timecnt);
    for _ in 0..h.timecnt {
        times.push(i64::from_be_bytes(r.array()?));
    }
    let idx = r.take(h.timecnt)?.to_vec();
    let mut types = Vec::with_capacity(h.typecnt);
    for _ in 0..h.typecnt {
        types.push(i32::from_be_bytes(r.array()?));
        r.skip(2)?; // isdst, abbreviation index
    }
    r.skip(h.charcnt + h.leapcnt * 12 + h.isstdcnt + h.isutcnt)?;
    let offsets = idx
        .iter()
        .map(|&i| types.get(usize::from(i)).copied())
        .collect::<Option<Vec<i32>>>()
        .ok_or("transition to an unknown local time type")?;
    let footer = r.0.strip_prefix(b"\n").ok_or("no TZif footer")?;
    let end = footer
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("unterminated footer")?;
    let footer = String::from_utf8(footer[..end].to_vec()).map_err(|e| e.to_string())?;
    Ok(Zone {
        times,
        offsets,
        initial: *types.first().ok_or("no local time types")?,
        footer,
    })
}

/// The compact record of a zone (format above).
pub fn encode(z: &Zone) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, z.times.len() as i64);
    varint(&mut out, i64::from(z.initial));
    let (mut t, mut o) = (0, i64::from(z.initial));
    for (&time, &offset) in z.times.iter().zip(&z.offsets) {
        varint(&mut out, time - t);
        varint(&mut out, i64::from(offset) - o);
        (t, o) = (time, i64::from(offset));
    }
    out.extend_from_slice(z.footer.as_bytes());
    out.push(b'\n');
    out
}

/// Zigzag LEB128.
fn varint(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The counts of a TZif header.
struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(r: &mut Cursor) -> Result<Header, String> {
        if r.take(4)? != b"TZif" {
            return Err("not a TZif file".into());
        }
        let version = r.take(1)?[0];
        r.skip(15)?;
        let mut n = [0usize; 6];
        for c in &mut n {
            *c = usize::try_from(i32::from_be_bytes(r.array()?)).map_err(|e| e.to_string())?;
        }
        Ok(Header {
            version,
            isutcnt: n[0],
            isstdcnt: n[1],
            leapcnt: n[2],
            timecnt: n[3],
            typecnt: n[4],
            charcnt: n[5],
        })
    }

    /// The length of the data block that follows, with `time` bytes per
    /// transition time.
    fn block_len(&self, time: usize) -> usize {
        self.timecnt * (time + 1)
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("truncated TZif file".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(|_| ())
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}
