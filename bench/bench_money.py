"""Benchmark: Clio bills and their time and expense entries through the loader into
Odoo Invoicing, next to a bare batched ``account.move.create`` of the same invoices.

    <odoo python> bench/bench_money.py --odoo-bin /opt/odoo18/odoo-bin [--entries 72000] [--db NAME]

Runs in one process against a fresh database with ``account`` (created, then dropped
unless --keep):

1. Serves an emulated Clio account with as many matters as bills, each bill carrying
   the billed entries of its matter (about 70 % of them), its rate limit raised: this
   measures our side, not Clio's 50 requests a minute.
2. Loads the contacts the bills belong to (not timed).
3. For each batch of 500 bills: their billed entries are staged in the run's
   ``flitstack.run.record`` in batches of 500, as the run's read of the activities
   does (not timed: that is the extraction's work); the loader loads the bills
   (``clio_bill``), which take their staged entries with them as invoice lines,
   then the entries' own batches (``clio_bill_time_entry``, ``clio_bill_expense``),
   which find them landed, with external ids, audit lines and original create
   dates, committing after each batch as the queue jobs do; the anchor creates the
   same invoices with the same lines in one ``account.move.create`` (tracking off,
   no external ids, no audit lines). The two alternate which goes first, batch by
   batch.
4. Prints records/s (invoices + lines, the Odoo calls alone) for each and their ratio,
   and the process's resident memory above its level before the phase after each
   10,000 entries loaded: flat figures mean memory does not grow with the entries.
"""
import argparse
import contextlib
import cProfile
import itertools
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odoo_bench import RssSampler, throwaway_odoo  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=72000,
                   help="time and expense entries in the account (about 70 %% billed: 72,000 load over 50,000)")
    p.add_argument("--per-bill", type=int, default=20, help="entries per matter (one bill each)")
    p.add_argument("--contacts", type=int, default=1000)
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS", ""))
    p.add_argument("--db", default=f"flitstack_bench_money_{uuid.uuid4().hex[:6]}")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the loader's part")
    return p.parse_args()


def main():
    args = parse_args()
    stack = contextlib.ExitStack()
    odoo, registry = stack.enter_context(
        throwaway_odoo(args.odoo_bin, args.addons, args.db, ["flitstack_migration", "account"], args.keep))
    from odoo import SUPERUSER_ID, api
    from psycopg2.extras import Json

    from flitstack_connectors.emulators.clio import ClioEmulator
    from flitstack_connectors.mapping import apply_object_map, matches_filter
    from flitstack_connectors.plan import batches
    from odoo.addons.flitstack_migration.services.loader import LOAD_CONTEXT, BatchLoader

    matters = max(1, args.entries // args.per_bill)
    sampler = RssSampler()
    ours = theirs = 0.0
    records = 0
    memory = []
    profiler = cProfile.Profile() if args.profile else None
    try:
        with ClioEmulator(contacts=args.contacts, matters=matters, activities=args.entries, bills=matters,
                          rate_limit=1_000_000, rate_window=60) as clio, registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            token = clio.issue_token()
            conn = env["flitstack.connection"].create({
                "name": "Bench Clio money", "kind": "clio", "state": "connected", "base_url": clio.base_url,
                "client_id": clio.client_id, "client_secret": clio.client_secret,
                "access_token": token["access_token"], "refresh_token": token["refresh_token"],
                "fallback_user_id": env.ref("base.user_admin").id,
            })
            cmap = conn._ensure_map()
            cmap.action_provision_fields()
            cmap.action_confirm()
            cr.commit()
            run = env["flitstack.run"].create({"connection_id": conn.id})
            run.write({"state": "running", "map_id": cmap.id, "spec_json": cmap.spec_json})
            spec = run._spec()
            source = conn._source()
            for name in ("clio_company", "clio_person", "clio_employee"):
                om = spec.object_map(name)
                for chunk in batches((r for r in source.read("contacts") if matches_filter(om, r)), 500):
                    run._job_load_batch(om.name, om.target_model,
                                        [apply_object_map(spec, om, r).model_dump(mode="json") for r in chunk])
                    cr.commit()
            bill_map = spec.object_map("clio_bill")
            line_maps = [spec.object_map("clio_bill_time_entry"), spec.object_map("clio_bill_expense")]
            # entries by bill, read once (the emulator serves them in matter order)
            entries = {}
            for rec in source.read("activities"):
                if rec.data.get("bill"):
                    entries.setdefault(rec.data["bill"]["id"], []).append(rec)
            Move = env["account.move"].with_context(**LOAD_CONTEXT)
            position = itertools.count(1)
            loader = BatchLoader(run)
            base = sampler.reset()
            loaded_entries, next_mark = 0, 10000
            for number, chunk in enumerate(batches(source.read("bills"), 500)):
                bill_payload = [apply_object_map(spec, bill_map, r).model_dump(mode="json") for r in chunk]
                line_recs = [e for r in chunk for e in entries.get(int(r.source_id), [])]
                line_batches = []
                for om in line_maps:
                    for part in batches((r for r in line_recs if matches_filter(om, r)), 500):
                        batch = env["flitstack.run.batch"].create({
                            "run_id": run.id, "map_name": om.name, "target_model": om.target_model,
                            "record_count": len(part)})
                        rows = [apply_object_map(spec, om, r) for r in part]
                        cr.execute(
                            "INSERT INTO flitstack_run_record (run_id, batch_id, map_name, position, source_id, "
                            "xmlid_name, payload) VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows)),
                            [v for p in rows for v in (run.id, batch.id, om.name, next(position), p.source_id,
                                                        p.xmlid_name, Json(p.model_dump(mode="json")))])
                        line_batches.append((om, batch.id))
                cr.commit()

                def load_ours():
                    if profiler:
                        profiler.enable()
                    t0 = time.perf_counter()
                    run._job_load_batch(bill_map.name, bill_map.target_model, bill_payload)
                    cr.commit()
                    for om, batch_id in line_batches:
                        run._job_load_batch(om.name, om.target_model, batch_id=batch_id)
                        cr.commit()
                    elapsed = time.perf_counter() - t0
                    if profiler:
                        profiler.disable()
                    return elapsed

                def load_anchor():
                    planned = [apply_object_map(spec, bill_map, r) for r in chunk]
                    loader._required = set()
                    refs = loader._resolve_refs(planned)
                    by_bill = {}
                    for om in line_maps:
                        for r in line_recs:
                            if matches_filter(om, r):
                                p = apply_object_map(spec, om, r)
                                vals = {k: v for k, v in p.values.items() if not k.startswith("x_") and k != "create_date"}
                                by_bill.setdefault(r.data["bill"]["id"], []).append((0, 0, vals))
                    vals_list = []
                    for rec, raw in zip(planned, chunk):
                        vals = loader._vals(Move, rec, refs)[0]
                        vals = {k: v for k, v in vals.items() if not k.startswith("x_") and k != "create_date"}
                        vals["invoice_line_ids"] = by_bill.get(int(raw.source_id), [])
                        vals_list.append(vals)
                    t0 = time.perf_counter()
                    Move.create(vals_list)
                    cr.commit()
                    return time.perf_counter() - t0

                if number % 2:
                    theirs += load_anchor()
                ours += load_ours()
                if not number % 2:
                    theirs += load_anchor()
                records += len(chunk) + len(line_recs)
                loaded_entries += len(line_recs)
                while loaded_entries >= next_mark:
                    memory.append((next_mark, (sampler.peak - base) / 2**20))
                    next_mark += 10000
            memory.append((loaded_entries, (sampler.peak - base) / 2**20))
            cr.execute("SELECT count(*), count(*) FILTER (WHERE landed) FROM flitstack_run_record WHERE run_id = %s",
                       [run.id])
            staged, landed = cr.fetchone()
            cr.execute("SELECT count(*) FROM flitstack_audit_line WHERE run_id = %s AND model = 'account.move.line' "
                       "AND operation = 'create' AND NOT continuation", [run.id])
            line_creates = cr.fetchone()[0]
            source.close()
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    finally:
        sampler.stop()
        stack.close()

    print(f"\nFlitStack money benchmark: {matters} bills with {loaded_entries} billed entries "
          f"(of {args.entries}), Odoo {odoo.release.version}")
    print(f"loader (bills with their staged lines; external ids, audit lines): {records / ours:8.0f} rec/s ({ours:.1f} s)")
    print(f"anchor (bare account.move.create with the same lines):           {records / theirs:8.0f} rec/s ({theirs:.1f} s)")
    print(f"entries staged {staged}, landed with their bill {landed}, create lines of invoice lines {line_creates}")
    print(f"ratio {theirs / ours:.2f}x of the anchor (target >= 0.8x)")
    print("RSS growth (MiB) after " + ", ".join(f"{n:,} entries: {m:.1f}" for n, m in memory))


if __name__ == "__main__":
    main()
