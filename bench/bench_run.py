"""Benchmark: a whole Clio migration through real queue_job workers, end to end.

    <odoo python> bench/bench_run.py [-n 100000] [--rate 50 --window 4] [--loader-n N | --no-loader]
        [--scenarios kill,restart,faults]

1. Installs the addon on a new database, serves an emulated Clio account of N
   contacts and N matters, and starts ``odoo-bin --workers=2`` with queue_job's job
   runner (``scripts/workers_harness.py`` does the set-up and the checks).
2. Starts a full run over JSON-RPC and follows it: every second, the resident
   memory of each worker and the number of records loaded.
3. Prints, per source object, records/s end to end (from the first page read to
   the last batch loaded) next to the loader-only figure ``bench/bench_load.py``
   prints for the same rows (run in the same invocation unless ``--no-loader``);
   each worker's peak resident memory when 10,000 and when N records had loaded;
   pages read ÷ the fewest pages the account needs; and pages per minute achieved
   ÷ pages per minute the account allows, with the 429s Clio answered.
4. Then, unless ``--scenarios ''``, the worker-kill, server-restart and 20%-fault
   scenarios at the same size, each checked for 0 duplicates, 0 lost records and
   reconciliation closed.
"""
import argparse
import math
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import psycopg2  # noqa: E402

import workers_harness as wh  # noqa: E402


def rss(pid, key="VmRSS"):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def loader_figures(n, odoo_bin, addons=None, db_prefix="fs_bench_run"):
    """records/s of the loader alone per object map, from bench_load.py's table."""
    cmd = [sys.executable, str(ROOT / "bench" / "bench_load.py"), "-n", str(n), "--odoo-bin", odoo_bin,
           "--db", f"{db_prefix}_load_{os.getpid()}_{secrets.token_hex(3)}"]
    if addons:
        cmd += ["--addons", addons.split(",")[0]]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False).stdout
    figures = {}
    for line in out.splitlines():
        # "loader  clio_company -> res.partner   <records>  <seconds>  <rec/s>  <MiB at 25/50/75/100%>"
        m = re.match(r"loader\s+(\S+) -> \S+\s+([\d,]+)\s+[\d.]+\s+([\d,]+)", line)
        if m and int(m.group(2).replace(",", "")) and int(m.group(3).replace(",", "")):
            figures[m.group(1)] = (int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")))
    return figures, out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=100000, help="contacts, and matters, in the account (default 100000)")
    p.add_argument("--rate", type=int, default=50)
    p.add_argument("--window", type=float, default=4.0)
    p.add_argument("--loader-n", type=int, help="size for bench_load.py (default: -n)")
    p.add_argument("--no-loader", action="store_true", help="do not run bench_load.py")
    p.add_argument("--scenarios", default="", help="also run these harness scenarios at this size")
    p.add_argument("--blueprints", action="store_true",
                   help="wait for the blueprints read after the run (one look-up per matter with custom rates "
                        "and attorney, at the source's pace) and check them")
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS"),
                   help="comma-separated folders holding queue_job (default: the repository's .cache/addons)")
    p.add_argument("--http-port", type=int)
    p.add_argument("--db-prefix", default="fs_bench_run", help="the throw-away databases' names start with it")
    args = p.parse_args()
    n = args.n
    hargs = wh.parse_args(["--contacts", str(n), "--matters", str(n), "--rate", str(args.rate),
                           "--window", str(args.window), "--timeout", str(max(3600, n // 10)),
                           "--odoo-bin", args.odoo_bin, "--db-prefix", args.db_prefix,
                           *(["--addons", args.addons] if args.addons else []),
                           *(["--http-port", str(args.http_port)] if args.http_port else [])])
    scenarios = [s for s in args.scenarios.split(",") if s]
    harness = wh.Harness(hargs)
    try:
        harness.setup(["bench", *scenarios])
        clio = harness.emulators["bench"]
        began = time.time()
        run_id = harness.start_run("bench")
        marks = {10000: None, n * 2: None}
        peaks = {}
        with psycopg2.connect(dbname=harness.db) as pg:
            pg.autocommit = True
            cr = pg.cursor()
            while True:
                alive = harness.odoo.worker_pids()
                for pid in alive:
                    value = rss(pid)
                    if value:
                        peaks[pid] = max(peaks.get(pid, 0), value)
                cr.execute("SELECT coalesce(sum(record_count), 0) FROM flitstack_run_batch "
                           "WHERE run_id = %s AND state = 'loaded'", [run_id])
                loaded = cr.fetchone()[0]
                for mark in marks:
                    if marks[mark] is None and loaded >= mark:
                        # the processes serving then (a worker recycled or killed is left out)
                        marks[mark] = {pid: peaks[pid] for pid in alive if pid in peaks}
                cr.execute("SELECT state FROM flitstack_run WHERE id = %s", [run_id])
                if cr.fetchone()[0] in ("done", "failed"):
                    break
                time.sleep(1)
            total = time.time() - began
            state = harness.run_state(run_id)
            if args.blueprints:
                state = harness.wait_done(run_id, hargs.timeout)
                print(f"blueprints read {time.time() - began - total:.0f} s after the run's end")
            harness.verify("bench", run_id, state, blueprints=args.blueprints)
            cr.execute("""
                SELECT e.source_object, e.pages_read, e.records_read, e.started_at, e.ended_at,
                       (SELECT max(b.write_date) FROM flitstack_run_batch b
                        WHERE b.run_id = e.run_id AND b.map_name = ANY(string_to_array(e.map_names, ',')))
                FROM flitstack_run_extraction e WHERE e.run_id = %s ORDER BY e.sequence""", [run_id])
            reads = cr.fetchall()
        pg.close()  # psycopg2's "with" ends the transaction only: the database is dropped at the end
        print(f"\nbench_run: {n:,} contacts and {n:,} matters through {hargs.workers} workers "
              f"({wh.channels(hargs.workers, hargs.capacity)}), Clio limit {args.rate} requests / {args.window:g} s; "
              f"run {state['state']} in {total:.0f} s\n")
        figures, _out = ({}, "") if args.no_loader else loader_figures(args.loader_n or n, args.odoo_bin, args.addons,
                                                                             args.db_prefix)
        maps_of = {"contacts": ("clio_company", "clio_person", "clio_employee"), "matters": ("clio_matter",)}
        print("| source object | records | end to end rec/s | loader-only rec/s (bench_load) | ratio |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for obj, pages, records, started, ended, last_load in reads:
            if obj not in maps_of or not last_load:
                continue
            seconds = (last_load - started).total_seconds()
            rate = records / seconds if seconds > 0 else 0
            loader = [figures[m] for m in maps_of[obj] if m in figures]
            only = sum(c for c, _r in loader) / sum(c / r for c, r in loader) if loader else None
            print(f"| {obj} | {records:,} | {rate:,.0f} | {f'{only:,.0f}' if only else 'n/a'} | "
                  f"{f'{rate / only:.2f}' if only else 'n/a'} |")
        print("\npeak resident memory per worker (MiB): "
              + "; ".join(f"at {mark:,} records loaded: " + (", ".join(f"{v:.0f}" for v in sorted(at.values()))
                                                              if at else "n/a") for mark, at in marks.items()))
        # pages Clio served to the whole run for each object it read (any field list: the
        # blueprints' too), Start's pre-flight sample left out
        served, _lookups = harness.run_requests("bench")
        minimum = sum(max(1, math.ceil(records / wh.PAGE)) for _o, _p, records, *_x in reads)
        pages = sum(served[f"/api/v4/{o}.json"] for o, *_x in reads)
        # the run's reads: from its first page to the end of its last read (Start's pre-flight
        # sample before, and the blueprints read at the end of a full run after, are left out)
        first = min(r[3] for r in reads).replace(tzinfo=timezone.utc).timestamp()
        last = max(r[4] for r in reads).replace(tzinfo=timezone.utc).timestamp() + 1.0
        api = [r for r in clio.request_log[harness.run_log_start["bench"]:]
               if "/api/v4/" in r.path and first - 1.0 <= r.at <= last]
        first, last = (min(r.at for r in api), max(r.at for r in api)) if api else (0, 0)
        allowed = args.rate * 60.0 / args.window
        achieved = len(api) * 60.0 / (last - first) if last > first else 0
        print(f"pages read / minimum pages: {pages} / {minimum} = {pages / minimum:.3f}")
        print(f"rate: {achieved:.1f} requests/min achieved / {allowed:.1f} allowed = {achieved / allowed:.3f}; "
              f"{sum(1 for r in api if r.status == 429)} answered 429")
        for name in scenarios:
            run_id, state = getattr(harness, f"scenario_{name}")()
            harness.verify(name, run_id, state)
    finally:
        harness.cleanup()
    print(f"\n{len(harness.failures)} failed checks" + (": " + "; ".join(harness.failures) if harness.failures else ""))
    return 1 if harness.failures else 0


if __name__ == "__main__":
    sys.exit(main())
