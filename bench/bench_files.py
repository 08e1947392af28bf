"""Benchmark: Clio documents streamed through the loader into Odoo's filestore, with memory.

    <odoo python> bench/bench_files.py --odoo-bin /opt/odoo18/odoo-bin [--big-mb 50] [--total-mb 1024]
                                       [--file-mb 50] [--db NAME] [--keep]

Runs in one process against a fresh database (created, then dropped unless --keep):

1. Serves an emulated Clio account (a few contacts and matters) on 127.0.0.1; its
   documents' content is generated while it is sent, so the emulator holds none of it.
2. Loads the parents (practice areas, contacts, matters) through the loader, then the
   documents, batch by batch through the load job (``_job_load_batch``), committing
   after each batch as the queue jobs do: download via download.json's 303 and the
   signed URL, spool beside the filestore, sha1 and sha256 on the way, move into the
   filestore.
3. Phase "one big file": one document of ``--big-mb`` MB. Phase "many files": documents
   of ``--file-mb`` MB up to ``--total-mb`` MB in all, in batches of 5.
4. Prints, per phase, MB/s and the process's peak resident memory above its level at
   the start of the phase (sampled every 20 ms), at each quarter of the phase for the
   second: flat figures mean memory does not grow with the bytes that land.

It never asserts anything about time.
"""
import argparse
import contextlib
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odoo_bench import RssSampler, throwaway_odoo  # noqa: E402

MB = 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS", ""),
                   help="folder holding queue_job (default: .cache/addons of this checkout)")
    p.add_argument("--big-mb", type=int, default=50)
    p.add_argument("--total-mb", type=int, default=1050)
    p.add_argument("--file-mb", type=int, default=50)
    p.add_argument("--db", default=f"flitstack_bench_files_{uuid.uuid4().hex[:6]}")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args()


def main():
    args = parse_args()
    stack = contextlib.ExitStack()
    odoo, registry = stack.enter_context(
        throwaway_odoo(args.odoo_bin, args.addons, args.db, ["flitstack_migration"], args.keep))
    from odoo import SUPERUSER_ID, api

    from flitstack_connectors.emulators.clio import ClioEmulator
    from flitstack_connectors.emulators.clio_documents import ClioDocuments
    from flitstack_connectors.mapping import apply_object_map, load_pack, matches_filter
    from flitstack_connectors.plan import batches, dependency_order

    keep = ("clio_practice_area", "clio_company", "clio_person", "clio_employee", "clio_matter",
            "clio_matter_document", "clio_contact_document")
    sampler = RssSampler()
    results = []
    try:
        with ClioEmulator(contacts=20, matters=10, users=3, practice_areas=3, rate_limit=1_000_000) as clio, \
                registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            icp = env["ir.config_parameter"]
            icp.set_param("flitstack_migration.clio_rate_limit", "1000000/60")
            icp.set_param("flitstack_migration.max_file_size", str(4 * 1024 * MB))
            token = clio.issue_token()
            conn = env["flitstack.connection"].create({
                "name": "Bench Clio files", "kind": "clio", "state": "connected", "base_url": clio.base_url,
                "client_id": clio.client_id, "client_secret": clio.client_secret,
                "access_token": token["access_token"], "refresh_token": token["refresh_token"],
                "fallback_user_id": env.ref("base.user_admin").id,
            })
            spec = load_pack("clio_odoo").only(keep)
            cmap = env["flitstack.map"].create({"name": "bench", "connection_id": conn.id,
                                                "spec_json": spec.model_dump(mode="json")})
            conn.map_id = cmap
            cmap.action_provision_fields()
            cmap.action_confirm()
            cr.commit()

            def load(om, batch_size, base=None):
                """Read ``om``'s records and load them through the job; (files, bytes, seconds, marks):
                marks are (bytes landed, peak RSS above ``base``) after each batch."""
                run = env["flitstack.run"].create({"connection_id": conn.id})
                run.write({"state": "running", "map_id": cmap.id, "spec_json": cmap.spec_json})
                source = conn._source()
                try:
                    records = [r for r in source.read(om.source_object) if matches_filter(om, r)]
                finally:
                    source.close()
                total = sum((r.attachments[0].size or 0) for r in records if r.attachments) if om.file else 0
                if base is None:
                    base = sampler.reset()
                marks, done, landed, t0 = [], 0, 0, time.perf_counter()
                for chunk in batches(iter(records), batch_size):
                    payload = [apply_object_map(spec, om, r).model_dump(mode="json") for r in chunk]
                    run._job_load_batch(om.name, om.target_model, payload)
                    cr.commit()
                    done += len(chunk)
                    landed += sum((r.attachments[0].size or 0) for r in chunk if r.attachments) if om.file else 0
                    marks.append((landed, sampler.peak - base))
                seconds = time.perf_counter() - t0
                failed = run.audit_line_ids.filtered(lambda l: l.operation == "fail")
                if failed:
                    raise SystemExit(f"{om.name}: {len(failed)} records failed: {failed[:3].mapped('message')}")
                return done, total, seconds, marks

            for om in dependency_order(spec):
                if not om.file:
                    load(om, 500)

            def phase(label, count, **sizes):
                library = ClioDocuments(clio.account, count, clio.account.seed, **sizes)
                # each phase uploads new versions, so no document of an earlier phase is found unchanged
                library.replaced = dict.fromkeys(library.documents.ids, len(results))
                clio.account.library = library
                files = bytes_ = 0
                seconds = 0.0
                marks = []
                base = sampler.reset()  # one start for the whole phase, over both document maps
                for om in dependency_order(spec):
                    if om.file:
                        n, size, secs, om_marks = load(om, 5, base)
                        files, seconds = files + n, seconds + secs
                        marks += [(bytes_ + landed, peak) for landed, peak in om_marks]
                        bytes_ += size
                results.append((label, files, bytes_, seconds, marks))

            phase(f"one file of {args.big_mb} MB", 1, large_file=args.big_mb * MB)
            count = max(1, -(-args.total_mb // args.file_mb))
            phase(f"{count} files of {args.file_mb} MB", count, uniform_size=args.file_mb * MB)
    finally:
        sampler.stop()
        stack.close()

    print(f"\nFlitStack files benchmark: Clio documents into the filestore, Odoo {odoo.release.version}")
    print(f"{'phase':28} {'files':>6} {'MB':>8} {'seconds':>8} {'MB/s':>7}   peak RSS above the phase's start (MiB)")
    for label, files, size, seconds, marks in results:
        quarters = []
        for q in (0.25, 0.5, 0.75, 1.0):
            reached = [peak for landed, peak in marks if landed >= q * size]
            quarters.append(f"{(reached[0] if reached else marks[-1][1]) / MB:.1f}")
        print(f"{label:28} {files:6d} {size / MB:8.1f} {seconds:8.2f} {size / MB / seconds if seconds else 0:7.1f}   "
              f"{' / '.join(quarters)} (at 25/50/75/100% of the bytes)")


if __name__ == "__main__":
    main()
