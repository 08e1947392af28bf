"""Rows/s of a Clio -> Dynamics 365 load into the emulated Dataverse, against the
emulator's ceiling in the same run.  Prints figures, asserts nothing.

    .venv/bin/python bench/bench_dynamics.py [--contacts 1200] [--matters 800] [--entries-per-matter 25]
                                             [--rate 3 --window 10] [--parallel 4] [--capacity]

The ceiling is what the emulator's service protection limit lets through: requests
allowed x 500 rows per request.  Over a load of T seconds a sliding window of
``rate`` requests per ``window`` seconds, empty at the start, admits
``rate x ceil(T / window)`` requests; ``rate / window x 500`` rows/s is the same
ceiling for a load of whole windows.  Both are printed; the ratio is against the
first.  The limit is set far below Dataverse's 6,000 per 5 minutes so that it, not
this machine, binds (``--capacity`` first measures the machine with no limit, so the
two can be compared); the map checks and provisioning (a fixed cost per environment,
their requests printed) run before the limit is set and its window starts empty.

The account is the issue's (1,200 contacts, 800 matters) with its bills, tasks,
calendar entries and documents, and ``--entries-per-matter`` time and expense entries
per matter (25 by default: a firm's matters carry dozens of entries each).
"""
from __future__ import annotations

import argparse
import collections
import math
import tempfile
import time
from pathlib import Path

from flitstack_connectors.destinations.dynamics.auth import ClientCredentials
from flitstack_connectors.destinations.dynamics.client import DataverseClient, SlidingWindowLimiter
from flitstack_connectors.emulators.clio import ClioEmulator
from flitstack_connectors.emulators.dataverse import DataverseEmulator
from flitstack_connectors.runs.migration import DynamicsMigration
from flitstack_connectors.runs.runner import Progress
from flitstack_connectors.runs.store import StateStore
from flitstack_connectors.sources.clio import ClioSource

ROWS_PER_REQUEST = 500


def load(a, rate: int, window: float) -> dict:
    with ClioEmulator(contacts=a.contacts, matters=a.matters, rate_limit=100_000,
                      activities=a.matters * a.entries_per_matter, bills=a.matters // 2,
                      history={"tasks": a.matters, "calendar_entries": a.matters}).with_documents(a.matters // 2) as clio:
        users = [clio.record("users", u) for u in clio.ids("users")]
        dv_users = [{"fullname": u["name"], "internalemailaddress": u["email"]} for u in users]
        # map checks and provisioning under no limit; the load under the limit being measured
        with DataverseEmulator(users=dv_users, rate_limit=100_000, rate_window=window) as dv:
            source = ClioSource(clio.issue_token(), base_url=clio.base_url, rate_limit=100_000)
            creds = ClientCredentials(dv.tenant, dv.client_id, dv.client_secret, dv.environment_url,
                                      authority=dv.authority, verify=dv.ca_bundle_path)
            client = DataverseClient(dv.environment_url, creds.token, rate_limit=100_000, rate_window=window,
                                     max_parallel=a.parallel)
            store = StateStore(str(Path(tempfile.mkdtemp()) / "state.sqlite"))
            mig = DynamicsMigration(store, source, client, source_url=clio.base_url)
            prepared = mig.prepare(None, fallback_owner=None, confirm=True)
            provisioned_with = client.requests_sent
            mig.provision(prepared.spec)
            provisioned_with = client.requests_sent - provisioned_with
            dv.rate_limit = rate
            dv.reset_limits()
            client.limiter = SlidingWindowLimiter(rate, window)
            marks: dict[str, float] = {}
            progress = Progress(start_map=lambda n, t: marks.setdefault("start", time.monotonic()),
                                end_map=lambda n: marks.__setitem__("end", time.monotonic()))
            dv.request_log.clear()
            report = mig.run(prepared, parallel=a.parallel, progress=progress)
            load_log = [r for r in dv.request_log if r.at >= 0]
            kinds = collections.Counter(
                "UpsertMultiple" if "UpsertMultiple" in r.path else "CreateMultiple" if "CreateMultiple" in r.path
                else "UpdateMultiple" if "UpdateMultiple" in r.path
                else "$batch (creates and closes)" if r.path.endswith("$batch")
                else "metadata" if "EntityDefinitions" in r.path or "Publish" in r.path else f"other {r.method}"
                for r in load_log)
            # the close actions (won, lost, resolved) ride in $batch requests counted above, with the
            # creates of their rows (one change set) or alone: the ceiling's rows do not include them
            closes = collections.Counter(action for action, status, _b in dv.action_log if status < 300)
            return {"seconds": marks["end"] - marks["start"], "rows": report["totals"]["created"]
                    + report["totals"]["updated"], "kinds": kinds, "requests": len(load_log),
                    "provisioning": provisioned_with, "throttled": dv.throttled_for_rate,
                    "reconciled": report["reconciled"], "closes": closes,
                    # the fewest bulk requests any client needs for these maps: one table per request
                    "ideal": sum(math.ceil((m["created"] + m["updated"]) / ROWS_PER_REQUEST) for m in report["maps"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1200)
    ap.add_argument("--matters", type=int, default=800)
    ap.add_argument("--entries-per-matter", type=int, default=25)
    ap.add_argument("--rate", type=int, default=3)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--capacity", action="store_true", help="first measure the machine with no limit")
    a = ap.parse_args()
    if a.capacity:
        free = load(a, 100_000, 300.0)
        print(f"machine, no limit: {free['rows']} rows in {free['seconds']:.1f} s = "
              f"{free['rows'] / free['seconds']:,.0f} rows/s ({free['requests']} requests)")
    r = load(a, a.rate, a.window)
    seconds, rows = r["seconds"], r["rows"]
    allowed = a.rate * math.ceil(seconds / a.window)
    ceiling = allowed * ROWS_PER_REQUEST / seconds
    steady = a.rate / a.window * ROWS_PER_REQUEST
    print(f"{rows} rows in {seconds:.1f} s: {rows / seconds:,.0f} rows/s; {r['requests']} requests to the emulator "
          f"({', '.join(f'{k} {n}' for k, n in sorted(r['kinds'].items()))}); provisioning before: "
          f"{r['provisioning']} requests")
    print(f"ceiling: {a.rate} requests per {a.window:g} s admit {allowed} in {seconds:.1f} s x {ROWS_PER_REQUEST} rows "
          f"= {ceiling:,.0f} rows/s (steady {steady:,.0f} rows/s); ratio {rows / seconds / ceiling:.2f} "
          f"(steady {rows / seconds / steady:.2f}); 429s for the rate: {r['throttled']}; reconciled: "
          f"{r['reconciled']}")
    print(f"closed by their actions: {sum(r['closes'].values())} rows "
          f"({', '.join(f'{k} {n}' for k, n in sorted(r['closes'].items())) or 'none'}) in "
          f"{r['kinds'].get('$batch (creates and closes)', 0)} $batch requests, counted among the requests above")
    print(f"limit used: {r['requests']} requests of the {allowed} admitted ({r['requests'] / allowed:.2f}); rows per "
          f"request {rows / r['requests']:.0f} of {ROWS_PER_REQUEST} ({rows / r['requests'] / ROWS_PER_REQUEST:.2f}): "
          f"the {r['ideal']} bulk requests these {rows} rows need at least, one table and one map "
          f"per request, hold {rows / r['ideal']:.0f} rows each ({rows / r['ideal'] / ROWS_PER_REQUEST:.2f})")


if __name__ == "__main__":
    main()
