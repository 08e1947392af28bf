"""Benchmark: a whole Clio migration through real queue_job workers, end to end.

    <odoo python> bench/bench_run.py [-n 100000] [--rate 50 --window 60] [--phases limited,free,loader]
        [--loader-n N] [--scenarios kill,restart,faults] [--blueprints]

1. Installs the addon on a new database, serves emulated Clio accounts of N
   contacts and N matters (the same rows in each), and starts ``odoo-bin
   --workers=3`` with queue_job's job runner (``scripts/workers_harness.py`` does
   the set-up and the checks).
2. ``limited``: a full run over JSON-RPC against an account that answers as
   Clio's documentation says (50 requests a minute per access token at peak
   hours, 200 records a page: https://docs.developers.clio.com/api-docs/rate-limits),
   followed every second: the resident memory of each worker and the records
   loaded.  Prints, per source object, records/s end to end (from the object's
   first page read to its last batch loaded) and the share of the most the limit
   lets one read deliver (200 records x requests per second); each worker's peak
   resident memory when 10,000 and when all records had loaded; pages read ÷ the
   fewest pages the account needs; requests per minute achieved ÷ allowed, with
   the 429s Clio answered.  Under Clio's limit the read is the bound.
3. ``free``: the same run against an account that does not limit its rate (the
   client's own limiter raised to match): what the pipeline itself costs, read,
   stage, jobs, load and audit, on the same rows.
4. ``loader``: ``bench/bench_load.py`` on the same rows in its own database, the
   loader alone (no read, no staging, no jobs: batches of 500 loaded one after
   another in one process).  Prints the ``free`` end-to-end figure ÷ this
   loader-only figure per source object: the pipeline's own overhead, the figure
   of the 0.8 target.  What the two figures cover, and why a whole-run row
   stands beside them:

   - the same rows (one emulated account, same seed and sizes) through the same
     default map, provisioned and confirmed, on a database with the same addon;
   - loader-only counts the seconds of ``_job_load_batch`` alone, in one process,
     one batch after another (no read, mapping, staging, jobs, workers); end to
     end counts, per source object, from its first page read to its last batch
     loaded, with read, mapping, staging, jobs and audit, two loads at once
     beside the read, the emulator and PostgreSQL on the same cores;
   - the objects' end-to-end windows overlap: matters are read while the last
     partner batches load, and their batches wait for those (a matter never
     loads before its client), so seconds of partner loading count in both
     objects' windows, while the loader's per-object seconds are disjoint.
     The per-object ratios are therefore lower than the pipeline's overhead
     alone; the ``whole run`` row (every record over one clock, first page read
     to last batch loaded, against the loader's seconds summed) counts no
     second twice.

   After the ``free`` run, queue_job's own timings show where its time went:
   seconds of work and mean wait per job function, and per source object its
   window, read time, load seconds, how long its batches waited staged before
   their load was queued, and how busy the load channel's slots were.
5. Then, with ``--scenarios kill,restart,faults`` (any of them), those harness
   scenarios at the same size, each checked for 0 duplicates, 0 lost records and
   reconciliation closed.  Without ``--blueprints`` a scenario ends when its run
   is done: the blueprint reads that follow it (one matter-rate look-up per
   matter with custom rates, hours at 100,000 under Clio's limit) are cancelled
   and their checks left out; CI's harness, at its size, waits for them and
   checks them.

Every run is checked as the harness checks it (done, reconciled, each record
once, every page read once, no batch load tried twice).
"""
import argparse
import math
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import closing
from datetime import timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import psycopg2  # noqa: E402

import workers_harness as wh  # noqa: E402

#: an account that does not limit its rate, and the client's limiter to match
FREE = (1_000_000, 1.0)
MAPS_OF = {"contacts": ("clio_company", "clio_person", "clio_employee"), "matters": ("clio_matter",)}


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
           "--no-anchor", "--db", f"{db_prefix}_load_{os.getpid()}_{secrets.token_hex(3)}"]
    if addons:
        cmd += ["--addons", addons.split(",")[0]]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False).stdout
    figures = {}
    for line in out.splitlines():
        # "loader  clio_company -> res.partner   <records>  <seconds>  <rec/s>  <MiB at 25/50/75/100%>"
        m = re.match(r"loader\s+(\S+) -> \S+\s+([\d,]+)\s+([\d.]+)\s+([\d,]+)", line)
        if m and int(m.group(2).replace(",", "")) and float(m.group(3)):
            figures[m.group(1)] = (int(m.group(2).replace(",", "")), float(m.group(3)))
    return figures, out


def follow(harness, name, n):
    """Start a full run of account ``name`` and follow it to its end: ``(run id, state,
    seconds, {mark: {pid: peak MiB}}, reads)``, reads per source object as
    ``(object, pages, records, first page read at, read to the end at, last batch loaded at)``."""
    began = time.time()
    run_id = harness.start_run(name)
    marks = {10000: None, n * 2: None}
    peaks = {}
    with closing(psycopg2.connect(dbname=harness.db)) as pg:
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
            if cr.fetchone()[0] in ("done", "failed", "cancelled"):
                break
            time.sleep(1)
        total = time.time() - began
        cr.execute("""
            SELECT e.source_object, e.pages_read, e.records_read, e.started_at, e.ended_at,
                   (SELECT max(b.write_date) FROM flitstack_run_batch b
                    WHERE b.run_id = e.run_id AND b.map_name = ANY(string_to_array(e.map_names, ',')))
            FROM flitstack_run_extraction e WHERE e.run_id = %s ORDER BY e.sequence""", [run_id])
        reads = cr.fetchall()
    return run_id, harness.run_state(run_id), total, marks, reads


def timeline(db, run_id, reads):
    """Where a run's time went, from queue_job's own timings: per job function, the jobs,
    their seconds of work and their mean wait between queued and started; per source
    object, its window (first page read to last batch loaded), the seconds its batches'
    loads took, how long its batches waited staged before their load was queued, and
    the share of the load channel's slots busy in the window."""
    with closing(psycopg2.connect(dbname=db)) as pg, pg.cursor() as cr:
        return _timeline(cr, run_id, reads)


def _timeline(cr, run_id, reads):
    cr.execute("""
        SELECT method_name, count(*), sum(exec_time), avg(extract(epoch FROM date_started - date_created))::float
        FROM queue_job WHERE func_string LIKE %s AND state = 'done' GROUP BY method_name ORDER BY 3 DESC""",
               [f"flitstack.run({run_id},).%"])
    jobs = cr.fetchall()
    objects = []
    for obj, _pages, records, started, ended, last_load in reads:
        if obj not in MAPS_OF or not last_load:
            continue
        cr.execute("""
            SELECT count(*), sum(j.exec_time)::float, avg(extract(epoch FROM j.date_created - b.create_date))::float,
                   max(extract(epoch FROM j.date_created - b.create_date))::float
            FROM flitstack_run_batch b
            JOIN queue_job j ON j.method_name = '_job_load_batch' AND j.state = 'done'
             AND j.func_string LIKE %s AND substring(j.func_string FROM 'batch_id=([0-9]+)')::int = b.id
            WHERE b.run_id = %s AND b.map_name = ANY(%s)""",
                   [f"flitstack.run({run_id},).%", run_id, list(MAPS_OF[obj])])
        count, load_s, wait_avg, wait_max = cr.fetchone()
        # every load job's seconds inside the window, for the channel's occupancy
        cr.execute("""
            SELECT coalesce(sum(extract(epoch FROM least(date_done, %s) - greatest(date_started, %s))), 0)::float
            FROM queue_job WHERE func_string LIKE %s AND method_name = '_job_load_batch' AND state = 'done'
             AND date_done > %s AND date_started < %s""",
                   [last_load, started, f"flitstack.run({run_id},).%", started, last_load])
        busy = cr.fetchone()[0]
        window = (last_load - started).total_seconds()
        objects.append((obj, records, window, (ended - started).total_seconds(), count, load_s or 0.0,
                        wait_avg or 0.0, wait_max or 0.0, busy / window if window else 0.0))
    first = min((r[3] for r in reads if r[0] in MAPS_OF), default=None)
    last = max((r[5] for r in reads if r[0] in MAPS_OF and r[5]), default=None)
    return jobs, objects, (last - first).total_seconds() if first and last else None


def print_timeline(tl, capacity):
    jobs, objects, _wall = tl
    print("| job function | jobs | seconds of work | mean wait queued -> started (s) |")
    print("| --- | ---: | ---: | ---: |")
    for method, count, seconds, wait in jobs:
        print(f"| {method} | {count} | {seconds or 0:.1f} | {wait or 0:.2f} |")
    print(f"| source object | records | window (first page to last batch loaded, s) | read (s) | batch loads "
          f"| seconds of load work | mean / longest wait staged -> load queued (s) "
          f"| load slots busy in the window (of {capacity}) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for obj, records, window, read, count, load_s, wait_avg, wait_max, busy in objects:
        print(f"| {obj} | {records:,} | {window:.1f} | {read:.1f} | {count} | {load_s:.1f} | "
              f"{wait_avg:.1f} / {wait_max:.1f} | {busy:.2f} |")


def end_to_end(reads):
    """``{source object: (records, records/s from its first page read to its last batch loaded)}``."""
    out = {}
    for obj, _pages, records, started, _ended, last_load in reads:
        if obj in MAPS_OF and last_load:
            seconds = (last_load - started).total_seconds()
            out[obj] = (records, records / seconds if seconds > 0 else 0.0)
    return out


def rate_figures(harness, name, reads, rate, window):
    """``(pages served, minimum pages, requests/min achieved, allowed, 429s)`` of a run's reads."""
    clio = harness.emulators[name]
    # pages Clio served to the whole run for each object it read (any field list: the
    # blueprints' too), Start's pre-flight sample left out
    served, _lookups = harness.run_requests(name)
    minimum = sum(max(1, math.ceil(records / wh.PAGE)) for _o, _p, records, *_x in reads)
    pages = sum(served[f"/api/v4/{o}.json"] for o, *_x in reads)
    # the run's reads: from its first page to the end of its last read
    first = min(r[3] for r in reads).replace(tzinfo=timezone.utc).timestamp()
    last = max(r[4] for r in reads).replace(tzinfo=timezone.utc).timestamp() + 1.0
    api = [r for r in clio.request_log[harness.run_log_start[name]:]
           if "/api/v4/" in r.path and first - 1.0 <= r.at <= last]
    first, last = (min(r.at for r in api), max(r.at for r in api)) if api else (0, 0)
    allowed = rate * 60.0 / window
    # n requests span n - 1 intervals: the first one opens the window
    achieved = (len(api) - 1) * 60.0 / (last - first) if last > first else 0.0
    return pages, minimum, achieved, allowed, sum(1 for r in api if r.status == 429)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=100000, help="contacts, and matters, in the account (default 100000)")
    p.add_argument("--rate", type=int, default=50, help="requests the limited account allows per window (Clio: 50)")
    p.add_argument("--window", type=float, default=60.0, help="seconds of its window (Clio: 60)")
    p.add_argument("--phases", default="limited,free,loader",
                   help="limited (Clio's limit), free (no limit), loader (bench_load.py, the loader alone)")
    p.add_argument("--loader-n", type=int, help="size for bench_load.py (default: -n, the same rows)")
    p.add_argument("--scenarios", default="", help="also run these harness scenarios at this size")
    p.add_argument("--blueprints", action="store_true",
                   help="wait for the blueprints read after the limited run and after each scenario (one look-up "
                        "per matter with custom rates and attorney, at the source's pace: hours at 100,000) and "
                        "check them; without it those reads are cancelled once the run is done")
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS"),
                   help="comma-separated folders holding queue_job (default: the repository's .cache/addons)")
    p.add_argument("--http-port", type=int)
    p.add_argument("--db-prefix", default="fs_bench_run", help="the throw-away databases' names start with it")
    args = p.parse_args()
    n = args.n
    phases = [x for x in args.phases.split(",") if x]
    hargs = wh.parse_args(["--contacts", str(n), "--matters", str(n), "--rate", str(args.rate),
                           "--window", str(args.window), "--timeout", str(max(3600, n // 10)),
                           "--odoo-bin", args.odoo_bin, "--db-prefix", args.db_prefix,
                           *([] if args.blueprints else ["--no-blueprints"]),
                           *(["--addons", args.addons] if args.addons else []),
                           *(["--http-port", str(args.http_port)] if args.http_port else [])])
    scenarios = [s for s in args.scenarios.split(",") if s]
    harness = wh.Harness(hargs)
    limited = free = free_timeline = None
    try:
        accounts = [x for x in ("limited", "free") if x in phases] + scenarios
        harness.setup(accounts, limits={"free": FREE})
        print(f"bench_run: {n:,} contacts and {n:,} matters through {hargs.workers} workers "
              f"({wh.channels(hargs.workers, hargs.capacity)}), {os.cpu_count()} cores shared with other work "
              f"(load average {os.getloadavg()[0]:.1f} at the start)", flush=True)
        if "limited" in phases:
            run_id, state, total, marks, reads = follow(harness, "limited", n)
            if args.blueprints:
                state = harness.wait_done(run_id, hargs.timeout)
            else:
                harness.drop_blueprints(run_id)
            harness.verify("limited", run_id, state, blueprints=args.blueprints)
            limited = end_to_end(reads)
            print(f"\n[limited] Clio's limit, {args.rate} requests / {args.window:g} s: run {state['state']} in "
                  f"{total:.0f} s (load average {os.getloadavg()[0]:.1f})")
            ceiling = wh.PAGE * args.rate / args.window
            print(f"| source object | records | end to end rec/s | most the limit lets a read deliver "
                  f"(200 x {args.rate}/{args.window:g} s) | share of it |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for obj, (records, rate) in limited.items():
                print(f"| {obj} | {records:,} | {rate:,.0f} | {ceiling:,.0f} | {rate / ceiling:.2f} |")
            print("peak resident memory per worker (MiB): "
                  + "; ".join(f"at {mark:,} records loaded: " + (", ".join(f"{v:.0f}" for v in sorted(at.values()))
                                                                  if at else "n/a") for mark, at in marks.items()))
            pages, minimum, achieved, allowed, throttled = rate_figures(harness, "limited", reads, args.rate,
                                                                        args.window)
            print(f"pages read / minimum pages: {pages} / {minimum} = {pages / minimum:.3f}")
            print(f"rate: {achieved:.1f} requests/min achieved / {allowed:.1f} allowed = {achieved / allowed:.3f}; "
                  f"{throttled} answered 429", flush=True)
        if "free" in phases:
            harness.odoo.call("ir.config_parameter", "set_param", "flitstack_migration.clio_rate_limit",
                              f"{FREE[0]}/{FREE[1]:g}")
            try:
                run_id, state, total, _marks, reads = follow(harness, "free", n)
                free_timeline = timeline(harness.db, run_id, reads)
            finally:
                harness.odoo.call("ir.config_parameter", "set_param", "flitstack_migration.clio_rate_limit",
                                  f"{args.rate}/{args.window:g}")
            harness.drop_blueprints(run_id)
            harness.verify("free", run_id, state, blueprints=False)
            free = end_to_end(reads)
            print(f"\n[free] the same rows from an account with no rate limit: run {state['state']} in {total:.0f} s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
            print_timeline(free_timeline, hargs.capacity)
        if "loader" in phases:
            figures, out = loader_figures(args.loader_n or n, args.odoo_bin, args.addons, args.db_prefix)
            if not figures:
                print(f"\nbench_load.py gave no figures:\n{out[-2000:]}")
            print(f"\n[loader] bench_load.py -n {args.loader_n or n} --no-anchor: the loader alone, one process, "
                  f"batches of 500 one after another (load average {os.getloadavg()[0]:.1f})")
            print("| source object | loader-only rec/s | end to end, no limit, rec/s | ratio (target 0.8) "
                  "| end to end, Clio's limit, rec/s |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for obj, maps in MAPS_OF.items():
                loader = [figures[m] for m in maps if m in figures]
                only = sum(c for c, _s in loader) / sum(s for _c, s in loader) if loader else None
                e2e = (free or {}).get(obj, (0, None))[1]
                slow = (limited or {}).get(obj, (0, None))[1]
                print(f"| {obj} | {f'{only:,.0f}' if only else 'n/a'} | {f'{e2e:,.0f}' if e2e else 'n/a'} | "
                      f"{f'{e2e / only:.2f}' if e2e and only else 'n/a'} | {f'{slow:,.0f}' if slow else 'n/a'} |")
            # the objects' windows overlap (matters are read while partners load, and wait for them):
            # the whole run, every record over one clock, counts no second twice
            loader = [figures[m] for maps in MAPS_OF.values() for m in maps if m in figures]
            only = sum(c for c, _s in loader) / sum(s for _c, s in loader) if loader else None
            wall = free_timeline[2] if free_timeline else None
            e2e = sum(r for r, _x in free.values()) / wall if free and wall else None
            print(f"| whole run (all records, first page read to last batch loaded) | {f'{only:,.0f}' if only else 'n/a'} "
                  f"| {f'{e2e:,.0f}' if e2e else 'n/a'} | {f'{e2e / only:.2f}' if e2e and only else 'n/a'} | n/a |")
        elif free:
            for obj, (records, rate) in free.items():
                print(f"| {obj} | {records:,} | {rate:,.0f} rec/s end to end with no limit |")
        for name in scenarios:
            began = time.time()
            run_id, state = getattr(harness, f"scenario_{name}")()
            harness.verify(name, run_id, state, blueprints=args.blueprints)
            print(f"\n[{name}] scenario: run {state['state']} in {time.time() - began:.0f} s "
                  f"({'blueprints waited for and checked' if args.blueprints else 'blueprint reads cancelled'})",
                  flush=True)
    finally:
        harness.cleanup()
    print(f"\n{len(harness.failures)} failed checks" + (": " + "; ".join(harness.failures) if harness.failures else ""))
    return 1 if harness.failures else 0


if __name__ == "__main__":
    sys.exit(main())
