"""The ``migrate``, ``map``, ``runs`` and ``rollback`` commands of ``flitstack``
(Clio -> Dynamics 365), and the Dynamics part of ``flitstack demo``.

Secrets: the Dynamics client secret comes only from the environment variable
``FLITSTACK_DYNAMICS_CLIENT_SECRET``; a CA bundle to trust from ``--ca-bundle``
(or ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` as Python's HTTP libraries read them).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Mapping, Optional, TextIO

from ..errors import ConfigurationError
from .migration import DynamicsMigration
from .runner import Progress
from .store import StateStore

SECRET_VARIABLE = "FLITSTACK_DYNAMICS_CLIENT_SECRET"


def add_dynamics_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Dynamics 365", f"The client secret is read from {SECRET_VARIABLE}, never from the "
                                              f"command line.")
    g.add_argument("--dest", choices=("dynamics",), default="dynamics", help="the destination (dynamics)")
    g.add_argument("--dynamics-url", metavar="URL", help="the environment URL, https://contoso.crm.dynamics.com")
    g.add_argument("--tenant", metavar="T", help="the Microsoft Entra tenant id or domain")
    g.add_argument("--dynamics-client-id", metavar="ID", help="the app registration's application (client) id")
    g.add_argument("--authority", metavar="URL", help="the identity platform (default https://login.microsoftonline.com)")
    g.add_argument("--ca-bundle", metavar="FILE", help="a CA bundle to trust for Dataverse and the authority")
    g.add_argument("--prefix", default="new_", help="the solution publisher's customization prefix (default new_)")
    g.add_argument("--solution", metavar="NAME", help="unique name of the unmanaged solution for the new columns")
    g.add_argument("--parallel", type=int, default=4, help="concurrent requests to Dataverse (1..52, default 4)")
    g.add_argument("--batch-size", type=int, default=500, metavar="N",
                   help="rows per CreateMultiple/UpsertMultiple request (1..500, default 500)")
    g.add_argument("--max-file-size", type=int, metavar="BYTES",
                   help="largest document attached to a note (default and most: the environment's maximum file "
                        "size); larger ones are fail lines")
    g.add_argument("--state", metavar="PATH|URL", help="the state store: an SQLite file (default "
                                                        "flitstack-state.sqlite) or a postgresql:// URL")
    g.add_argument("--map", metavar="FILE", help="a Dynamics 365 map file (default: the clio_dynamics pack)")
    g.add_argument("--fallback-owner", metavar="EMAIL", help="enabled system user owning the records of unmatched staff")


def open_dynamics(options: argparse.Namespace, environ: Mapping[str, str] = os.environ):
    from ..destinations.dynamics.auth import ClientCredentials
    from ..destinations.dynamics.client import DataverseClient

    for flag, value in (("--dynamics-url", options.dynamics_url), ("--tenant", options.tenant),
                        ("--dynamics-client-id", options.dynamics_client_id)):
        if not value:
            raise ConfigurationError(f"Give {flag} for the Dynamics 365 environment")
    secret = (environ.get(SECRET_VARIABLE) or "").strip()
    if not secret:
        raise ConfigurationError(f"Set the environment variable {SECRET_VARIABLE} to the app registration's client "
                                 f"secret (Microsoft Entra admin center > App registrations > Certificates & "
                                 f"secrets); it is never taken from the command line")
    verify: Any = options.ca_bundle or True
    creds = ClientCredentials(options.tenant, options.dynamics_client_id, secret, options.dynamics_url,
                              authority=options.authority, verify=verify)
    return DataverseClient(options.dynamics_url, creds.token, max_parallel=options.parallel, verify=verify)


class RichProgress:
    """Per object map progress bars on a terminal."""

    def __init__(self, out: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RP, TextColumn, TimeElapsedColumn

        self._p = RP(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=Console(file=out), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        self._p.start()
        return Progress(start_map=lambda n, total: self._tasks.__setitem__(n, self._p.add_task(n, total=total)),
                        advance=lambda n, k: self._p.advance(self._tasks[n], k),
                        end_map=lambda n: self._p.update(self._tasks[n], total=self._p.tasks[self._tasks[n]].completed))

    def __exit__(self, *exc: Any) -> None:
        self._p.stop()


def print_reconciliation(report: Mapping[str, Any], out: TextIO) -> None:
    from ..cli import _table

    rows = [(m["map"], m["table"], m["read"], m["created"], m["updated"], m["skipped"], m["failed"],
             "yes" if m["closes"] else "NO") for m in report["maps"]]
    t = report["totals"]
    rows.append(("total", "", t["read"], t["created"], t["updated"], t["skipped"], t["failed"],
                 "yes" if report["reconciled"] else "NO"))
    for line in _table(rows, ("Object map", "Table", "Read", "Created", "Updated", "Skipped", "Failed", "Closes"),
                       right=(2, 3, 4, 5, 6)):
        print(line, file=out)


def migrate(options: argparse.Namespace, source, out: TextIO, *, source_url: str, client=None,
            after_batch=None) -> dict[str, Any]:
    from ..cli import load_map_file

    base = load_map_file(options.map) if options.map else None
    client = client or open_dynamics(options)
    store = StateStore(options.state)
    try:
        mig = DynamicsMigration(store, source, client, source_url=source_url, tenant=options.tenant,
                                client_id=options.dynamics_client_id, prefix=options.prefix,
                                solution=options.solution)
        prepared = mig.prepare(base, fallback_owner=options.fallback_owner, confirm=options.confirm)
        tty = getattr(out, "isatty", lambda: False)() and not options.json
        with (RichProgress(out) if tty else contextlib.nullcontext(None)) as progress:
            report = mig.run(prepared, mode=options.mode, parallel=options.parallel, progress=progress,
                             after_batch=after_batch, batch_size=options.batch_size,
                             max_file_bytes=options.max_file_size)
        return report
    finally:
        store.close()
        client.close()


def print_migrate(report: Mapping[str, Any], out: TextIO) -> None:
    resumed = " (resumed)" if report["resumed"] else ""
    print(f"Run {report['run']}{resumed}, mode {report['mode']}, map version {report['map_version']}, "
          f"{report['requests']} requests to Dataverse:", file=out)
    print_reconciliation(report, out)
    staff = report["staff"]
    if staff["unmatched"] or staff["disabled"]:
        print(f"\nStaff: {len(staff['unmatched'])} Clio users without a system user, {len(staff['disabled'])} with a "
              f"disabled one; their records are owned by the fallback owner.", file=out)
    diff = report.get("field_diff")
    if diff is not None:
        bad = [d for d in diff if not d["agrees"]]
        print(f"\nField diff: {len(diff)} values compared, {len(bad)} differ.", file=out)
        for d in bad[:20]:
            print(f"  {d['map']} {d['source_id']} {d['column']}: source {d['source']} -> mapped {d['mapped']!r}, "
                  f"landed {d['landed']!r}", file=out)
    print(f"\nRoll it back with: flitstack rollback {report['run']}", file=out)


def runs_report(options: argparse.Namespace) -> dict[str, Any]:
    store = StateStore(options.state)
    try:
        out = []
        for r in store.runs():
            counts = store.counts(r["id"])
            out.append({"run": r["id"], "mode": r["mode"], "status": r["status"],
                        "started_at": r["started_at"].isoformat() if r["started_at"] else None,
                        "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
                        "maps": counts, "reconciled": all(c["closes"] for c in counts)})
        return {"state": store.url, "runs": out}
    finally:
        store.close()


def print_runs(report: Mapping[str, Any], out: TextIO) -> None:
    from ..cli import _table

    rows = []
    for r in report["runs"]:
        totals = {k: sum(m[k] for m in r["maps"]) for k in ("read", "created", "updated", "skipped", "failed")}
        rows.append((r["run"], r["mode"], r["status"], (r["started_at"] or "")[:19], totals["read"], totals["created"],
                     totals["updated"], totals["skipped"], totals["failed"]))
    for line in _table(rows, ("Run", "Mode", "Status", "Started (UTC)", "Read", "Created", "Updated", "Skipped",
                              "Failed"), right=(0, 4, 5, 6, 7, 8)):
        print(line, file=out)


def rollback(options: argparse.Namespace, client=None) -> dict[str, Any]:
    from ..destinations.dynamics.propose import key_column
    from .rollback import rollback_run

    client = client or open_dynamics(options)
    store = StateStore(options.state)
    try:
        return rollback_run(store, client, options.run_id, key_column=key_column(options.prefix))
    finally:
        store.close()
        client.close()


def print_rollback(report: Mapping[str, Any], out: TextIO) -> None:
    print(f"Rolled back run {report['run']}: {report['deleted']} rows deleted, {report['restored']} rows restored.",
          file=out)
    for m in report["maps"]:
        print(f"  {m['map']} ({m['table']}): {m['deleted']} deleted, {m['restored']} restored", file=out)
