#!/usr/bin/env python3
"""Prints the table of BENCHMARKS.md ("## Core (native)") from criterion's
last run (target/criterion/**/new/estimates.json): median time per operation
and the ratios the goals are stated in. Standard library only.

    cargo bench -p tollgate --bench decision && python3 benches/summary.py
"""
import json
import os
import sys

ROOT = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
SIZES = ["1000", "100000", "1000000"]


def median(group, fn, param):
    path = os.path.join(ROOT, group, fn, param, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def t(ns):
    if ns is None:
        return "—"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:,.2f}"


def main():
    if not os.path.isdir(ROOT):
        sys.exit(f"no criterion results under {ROOT}: run cargo bench -p tollgate --bench decision")
    check = {n: median("check_message", "tollgate", n) for n in ["0", "typical_month"] + SIZES}
    sql = {n: median("check_message", "sqlite_seed", n) for n in SIZES}
    rc = {n: median("reserve_commit_message", "tollgate_with_key", n) for n in SIZES + ["typical_month"]}
    rc0 = {n: median("reserve_commit_message", "tollgate_no_key", n) for n in SIZES + ["typical_month"]}

    print("| events | check (Tollgate) | check (seed: SQLite SUMs) | SQLite / Tollgate "
          "| reserve+commit, with Idempotency-Key | reserve+commit, no key |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| 0 | {t(check['0'])} | — | — | — | — |")
    for n in SIZES:
        print(f"| {int(n):,} | {t(check[n])} | {t(sql[n])} | {ratio(sql[n], check[n])} "
              f"| {t(rc[n])} | {t(rc0[n])} |")
    print(f"| a typical month | {t(check['typical_month'])} | — | — "
          f"| {t(rc['typical_month'])} | {t(rc0['typical_month'])} |")
    print()
    print(f"- check, 10⁶ / 10³: **{ratio(check['1000000'], check['1000'])}** (goal ≤ 1.2)")
    print(f"- reserve+commit (with key), 10⁶ / 10³: **{ratio(rc['1000000'], rc['1000'])}**")
    print(f"- seed (SQLite), 10⁶ / 10³: **{ratio(sql['1000000'], sql['1000'])}**")
    for n in SIZES + ["typical_month"]:
        m = median("maintain", "tollgate", n)
        label = f"{int(n):,} events" if n.isdigit() else "a typical month"
        print(f"- maintain (inside every reserve), {label}: {t(m)}")
    for n in ["typical_month", "1000000"]:
        j = median("ledger_json", "from_json_to_json", n)
        print(f"- ledger from_json + to_json ({n.replace('_', ' ')}): {t(j)}")
    # Credits and warnings (benches/credits.rs): ratios against the baseline of the same run.
    sides = ["baseline", "5_grants_warnings", "draws_and_warns"]
    cw = {(op, s): median("credits_warnings", op, s) for op in ["check", "reserve_commit"] for s in sides}
    if any(v is not None for v in cw.values()):
        print()
        print("| decision (a typical month) | check | ÷ baseline | reserve+commit | ÷ baseline |")
        print("|---|---:|---:|---:|---:|")
        for s in sides:
            c, r = cw[("check", s)], cw[("reserve_commit", s)]
            print(f"| {s.replace('_', ' ')} | {t(c)} | {ratio(c, cw[('check', 'baseline')])} "
                  f"| {t(r)} | {ratio(r, cw[('reserve_commit', 'baseline')])} |")


if __name__ == "__main__":
    main()
