"""Benchmark: Clio contacts and matters through the loader into Odoo, next to Odoo's own paths.

    <odoo python> bench/bench_load.py --odoo-bin /opt/odoo18/odoo-bin [-n 10000] [--db NAME]

Runs in one process against a fresh database (created, then dropped unless --keep):

1. Serves an emulated Clio account of N contacts and N matters on 127.0.0.1
   (its rate limit raised: this measures our side, not Clio's 50 requests/minute).
2. For each object map of the Clio pack, in dependency order: reads the records,
   applies the map, and loads batches of 500 with the loader (external ids, audit
   lines, original create dates), committing after each batch as the queue jobs do.
3. Anchors, on the same rows in the same run:
   - partners: ``res.partner.load()`` with the same fields and an external id column
     (what Odoo's importer calls), in batches of 500;
   - leads: a bare batched ``crm.lead.create()`` with tracking off, no external ids,
     no audit lines.
   Each batch goes through both, alternating which goes first, so that neither
   always meets warm caches or smaller tables.
4. Prints records/s for each (the Odoo call alone; reading and mapping are not
   counted for either), the ratio to its anchor, and the process's resident
   memory above its level before the phase, at each quarter of the loader phase:
   flat figures mean memory does not grow with the number of records.
"""
import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odoo_bench import RssSampler, throwaway_odoo  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=10000, help="contacts, and matters, in the account (default 10000)")
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS", ""),
                   help="folder holding queue_job (default: .cache/addons of this checkout)")
    p.add_argument("--db", default=f"flitstack_bench_{uuid.uuid4().hex[:6]}")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--profile", metavar="MAP", help="print a cProfile of the loader for this object map")
    p.add_argument("--no-anchor", action="store_true",
                   help="the loader alone, without Odoo's own paths beside it (bench_run.py's loader-only figure)")
    return p.parse_args()


def main():
    args = parse_args()
    stack = contextlib.ExitStack()
    odoo, registry = stack.enter_context(
        throwaway_odoo(args.odoo_bin, args.addons, args.db, ["flitstack_migration"], args.keep))
    from odoo import SUPERUSER_ID, api

    from flitstack_connectors.emulators.clio import ClioEmulator
    from flitstack_connectors.mapping import apply_object_map, matches_filter
    from flitstack_connectors.plan import batches, dependency_order
    from odoo.addons.flitstack_migration.services.loader import LOAD_CONTEXT, BatchLoader

    sampler = RssSampler()
    results = []
    try:
        with ClioEmulator(contacts=args.n, matters=args.n, rate_limit=1_000_000, rate_window=60) as clio, \
                registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ir.config_parameter"].set_param("flitstack_migration.clio_rate_limit", "1000000/60")
            token = clio.issue_token()
            conn = env["flitstack.connection"].create({
                "name": "Bench Clio", "kind": "clio", "state": "connected", "base_url": clio.base_url,
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
            loader = BatchLoader(run)  # used only to resolve the anchors' rows the way ours are
            for om in dependency_order(spec):
                if om.target_model not in env or not om.enabled:
                    continue  # the money and history maps need apps this database does not have
                anchor = None if args.no_anchor else \
                    {"res.partner": "res.partner.load()", "crm.lead": "crm.lead.create() bare"}.get(om.target_model)
                Model = env[om.target_model].with_context(**LOAD_CONTEXT)
                records = (r for r in source.read(om.source_object) if matches_filter(om, r))
                base = sampler.reset()
                quarters, count, ours, theirs = [], 0, 0.0, 0.0
                profiler = cProfile.Profile() if args.profile == om.name else None
                for number, chunk in enumerate(batches(records, 500)):
                    planned = [apply_object_map(spec, om, r) for r in chunk]
                    payload = [p.model_dump(mode="json") for p in planned]

                    def load_ours():
                        if profiler:
                            profiler.enable()
                        run._job_load_batch(om.name, om.target_model, payload)
                        cr.commit()
                        if profiler:
                            profiler.disable()

                    def load_anchor():
                        loader._required = set()
                        refs = loader._resolve_refs(planned)
                        vals_list = [loader._vals(Model, rec, refs)[0] for rec in planned]
                        for vals in vals_list:
                            vals.pop("create_date", None)
                        t0 = time.perf_counter()
                        if om.target_model == "res.partner":
                            fields = sorted({f for vals in vals_list for f in vals})
                            header = ["id"] + [f"{f}/.id" if Model._fields[f].type == "many2one" else f for f in fields]
                            rows = [[f"flitstack_bench_anchor.{rec.xmlid_name}"] + [_cell(vals.get(f)) for f in fields]
                                    for rec, vals in zip(planned, vals_list)]
                            res = Model.load(header, rows)
                            if any(m.get("type") == "error" for m in res.get("messages", [])):
                                raise SystemExit(f"load() reported: {res['messages'][:3]}")
                        else:
                            Model.create(vals_list)
                        cr.commit()
                        return time.perf_counter() - t0

                    # same rows, same moment: alternate which goes first so that neither
                    # gets the warm caches (or the smaller tables) every time
                    if anchor and number % 2:
                        theirs += load_anchor()
                    t0 = time.perf_counter()
                    load_ours()
                    ours += time.perf_counter() - t0
                    count += len(chunk)
                    quarters.append((count, sampler.peak - base))
                    if anchor and not number % 2:
                        theirs += load_anchor()
                if profiler:
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                results.append((f"loader  {om.name} -> {om.target_model}", count, ours, _quarters(quarters, count), None))
                if anchor:
                    results.append((f"anchor  {om.name}: {anchor}", count, theirs, "", None))
            source.close()
    finally:
        sampler.stop()
        stack.close()

    print(f"\nFlitStack loader benchmark: {args.n} Clio contacts and {args.n} matters, batches of 500, Odoo {odoo.release.version}")
    print(f"{'phase (batches of 500, alternating order)':58} {'records':>8} {'seconds':>8} {'rec/s':>8}   RSS growth (MiB) at 25/50/75/100%")
    for label, count, seconds, quarters, _total in results:
        rate = count / seconds if seconds else 0.0
        print(f"{label:58} {count:8d} {seconds:8.2f} {rate:8.0f}   {quarters}")
    ours_p = _combined(results, lambda l: l.startswith("loader") and "res.partner" in l)
    load_p = _combined(results, lambda l: l.startswith("anchor") and "load()" in l)
    ours_l = _combined(results, lambda l: l.startswith("loader") and "crm.lead" in l)
    bare_l = _combined(results, lambda l: l.startswith("anchor") and "create()" in l)
    if args.no_anchor:
        return
    print(f"\npartners: loader {ours_p:.0f} rec/s vs res.partner.load() {load_p:.0f} rec/s = "
          f"{ours_p / load_p:.2f}x (target >= 1.3x)")
    print(f"leads:    loader {ours_l:.0f} rec/s vs bare create {bare_l:.0f} rec/s = "
          f"{ours_l / bare_l:.2f}x (target >= 0.8x)")


def _cell(value):
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return str(value)


def _quarters(points, total):
    out = []
    for q in (0.25, 0.5, 0.75, 1.0):
        want = total * q
        growth = next((g for c, g in points if c >= want), points[-1][1] if points else 0)
        out.append(f"{growth / 2**20:6.1f}")
    return " ".join(out)


def _combined(results, pick):
    count = sum(r[1] for r in results if pick(r[0]))
    seconds = sum(r[2] for r in results if pick(r[0]))
    return count / seconds if seconds else 0.0


if __name__ == "__main__":
    main()
