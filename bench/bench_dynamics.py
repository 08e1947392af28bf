"""Rows/s of a Clio -> Dynamics 365 load into the emulated Dataverse, against
the emulator's ceiling in the same run: (requests its service protection limit
allows per second) x (rows per request, 500).  Prints figures, asserts nothing.

    .venv/bin/python bench/bench_dynamics.py [--contacts 1200] [--matters 800] [--rate 60 --window 30]

The default limit (60 requests per 30 s) is lower than Dataverse's 6,000 per
5 minutes so that the limit, not this machine, sets the ceiling within a run
of a few thousand rows; --rate 6000 --window 300 measures Dataverse's own.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flitstack_connectors.destinations.dynamics.auth import ClientCredentials
from flitstack_connectors.destinations.dynamics.client import DataverseClient
from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.dataverse import DataverseEmulator
from flitstack_connectors.runs.migration import DynamicsMigration
from flitstack_connectors.runs.runner import Progress
from flitstack_connectors.runs.store import StateStore
from flitstack_connectors.sources.clio import ClioSource


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1200)
    ap.add_argument("--matters", type=int, default=800)
    ap.add_argument("--rate", type=int, default=60)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--parallel", type=int, default=4)
    a = ap.parse_args()
    with ClioEmulator(contacts=a.contacts, matters=a.matters, rate_limit=100_000) as clio:
        users = [clio.record("users", u) for u in clio.ids("users")]
        dv_users = [{"fullname": u["name"], "internalemailaddress": u["email"]} for u in users]
        with DataverseEmulator(users=dv_users, rate_limit=a.rate, rate_window=a.window) as dv:
            source = ClioSource(clio.issue_token(), base_url=clio.base_url, rate_limit=100_000)
            creds = ClientCredentials(dv.tenant, dv.client_id, dv.client_secret, dv.environment_url,
                                      authority=dv.authority, verify=dv.ca_bundle_path)
            client = DataverseClient(dv.environment_url, creds.token, rate_limit=a.rate, rate_window=a.window,
                                     max_parallel=a.parallel)
            store = StateStore(str(Path(tempfile.mkdtemp()) / "state.sqlite"))
            mig = DynamicsMigration(store, source, client, source_url=clio.base_url)
            prepared = mig.prepare(None, fallback_owner=None, confirm=True)
            mig.provision(prepared.spec)
            marks: dict[str, float] = {}
            progress = Progress(start_map=lambda n, t: marks.setdefault("start", time.monotonic()),
                                end_map=lambda n: marks.__setitem__("end", time.monotonic()))
            sent0 = client.requests_sent
            report = mig.run(prepared, parallel=a.parallel, progress=progress)
            seconds = marks["end"] - marks["start"]
            rows = report["totals"]["created"] + report["totals"]["updated"]
            requests = client.requests_sent - sent0
            ceiling = a.rate / a.window * 500
            print(f"{rows} rows in {seconds:.1f} s: {rows / seconds:,.0f} rows/s; {requests} requests "
                  f"({requests / seconds:.2f}/s) to the emulator")
            print(f"ceiling: {a.rate}/{a.window:g} s x 500 rows = {ceiling:,.0f} rows/s; ratio "
                  f"{rows / seconds / ceiling:.2f}; 429s for the rate: {dv.throttled_for_rate}")


if __name__ == "__main__":
    main()
