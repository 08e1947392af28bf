"""The ``flitstack`` command: look at a source, propose a map, audit the data and
rehearse a migration into Odoo 18 CRM from a terminal, without a database.

Every command goes through these steps:

1. parse the arguments; secrets never come from them (the Cliniko API key is
   read from ``FLITSTACK_CLINIKO_API_KEY``, the Clio client secret from
   ``FLITSTACK_CLIO_CLIENT_SECRET``, Clio tokens from a JSON file), because
   arguments show up in process lists and shell history;
2. open the source (:func:`open_source`): Clio or Cliniko over their APIs, a
   Clientjoy or clinic CSV export from a folder or zip archive;
3. run the step, which returns a plain, JSON-friendly report
   (:func:`discover_report`, :func:`propose_report`, :func:`audit_report`,
   :func:`dry_run_report`);
4. print the report for people, or as JSON with ``--json``;
5. a :class:`~flitstack_connectors.errors.FlitstackError` ends the command
   with one message on stderr saying what to do, and exit code 2.

``flitstack demo`` runs discover, propose, audit and dry-run on an emulated
account (a local Clio or Cliniko server, or a generated export), offline.

Reports name objects, fields, record ids and row numbers, never record
values, tokens or keys.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, TextIO
from urllib.parse import urlsplit

from pydantic import ValidationError

from . import __version__
from .errors import ConfigurationError, FlitstackError, MappingError
from .http import is_loopback_url
from .mapping import MapSpec, TargetSchema, apply_object_map, load_pack, matches_filter, propose_map, validate_spec
from .plan import MAX_BATCH_SIZE, batches, dependency_order
from .quality import audit
from .records import ObjectInfo, SourceRecord
from .sources.base import Source

#: the destination every command checks maps against
SCHEMA_SNAPSHOT = "odoo18_crm"
SCHEMA_LABEL = "Odoo 18 CRM"
KINDS = ("clio", "cliniko", "clientjoy", "clinic_csv")
FILE_KINDS = ("clientjoy", "clinic_csv")
CLINIKO_KEY_VARIABLE = "FLITSTACK_CLINIKO_API_KEY"
CLIO_SECRET_VARIABLE = "FLITSTACK_CLIO_CLIENT_SECRET"
#: records per object read to sharpen a proposal (value kinds, picklists)
SAMPLE_SIZE = 100
#: failing records listed per object map in a dry-run
FIRST_FAILURES = 3
#: findings listed one by one in an audit
FIRST_FINDINGS = 10
DEMO_SIZE = 300

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger(__name__)


class SecretOnCommandLineError(ConfigurationError):
    """A secret was given as a command-line argument, where process lists show it."""


# ---------------------------------------------------------------------------
# Opening sources




def _checked_base_url(url: Optional[str]) -> Optional[str]:
    """``url`` when it is https, or plain http to this machine (an emulator)."""
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return url
    raise ConfigurationError(
        "--base-url must start with https:// (plain http is accepted only for 127.0.0.1 or localhost), "
        "so that credentials never travel unencrypted")


class TokenFile:
    """A Clio token set kept in a JSON file (``access_token``, ``refresh_token``,
    ``expires_at``); renewed tokens are written back, readable by the owner only."""

    def __init__(self, path: os.PathLike | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"No Clio token file at {self.path}: give --clio-token-file the JSON file holding the "
                f"connection's access_token and refresh_token") from None
        except OSError as exc:
            raise ConfigurationError(f"Cannot read the Clio token file {self.path} ({exc.strerror}): "
                                     f"check its permissions") from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise ConfigurationError(
                f"The Clio token file {self.path} is not a JSON object with an access_token: write it as "
                f'{{"access_token": "...", "refresh_token": "...", "expires_at": <epoch seconds>}}')
        return data

    def save(self, token_set: Any) -> None:
        """Write ``token_set`` (a :class:`~flitstack_connectors.http.TokenSet`) in
        place of the old one, atomically, with mode 0600."""
        tmp = self.path.with_name(f".{self.path.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(token_set.to_dict(), fh)
        os.replace(tmp, self.path)


_OPTION_KINDS = {
    "clio_token_file": ("--clio-token-file", ("clio",)),
    "clio_client_id": ("--clio-client-id", ("clio",)),
    "region": ("--region", ("clio",)),
    "base_url": ("--base-url", ("clio", "cliniko")),
    "contact_email": ("--contact-email", ("cliniko",)),
    "path": ("--path", FILE_KINDS),
}


def open_source(options: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Source:
    """The source ``options.source`` names, connected with the other options and
    the secrets in ``environ``; raises :class:`ConfigurationError` saying what
    is missing."""
    kind = options.source
    if getattr(options, "api_key", None) is not None:
        raise SecretOnCommandLineError(
            f"Do not put the Cliniko API key on the command line, where other users can read it in the "
            f"process list and it stays in the shell history: set the environment variable "
            f"{CLINIKO_KEY_VARIABLE} instead")
    for attr, (flag, kinds) in _OPTION_KINDS.items():
        if getattr(options, attr, None) is not None and kind not in kinds:
            raise ConfigurationError(f"{flag} applies to {' and '.join(kinds)} sources, not to {kind}: drop it")
    if kind == "clio":
        return _open_clio(options, environ)
    if kind == "cliniko":
        return _open_cliniko(options, environ)
    if not options.path:
        raise ConfigurationError(f"Give --path: the folder or .zip file of the {kind} export")
    if kind == "clientjoy":
        from .sources.clientjoy import ClientjoySource
        return ClientjoySource(options.path)
    from .sources.clinic_csv import ClinicCsvSource
    return ClinicCsvSource(options.path)


def _open_clio(options: argparse.Namespace, environ: Mapping[str, str]) -> Source:
    from .sources.clio import ClioOAuth, ClioSource

    if not options.clio_token_file:
        raise ConfigurationError(
            "Give --clio-token-file: the JSON file holding the Clio connection's access_token and "
            "refresh_token (from the OAuth authorization)")
    base_url = _checked_base_url(options.base_url)
    token_file = TokenFile(options.clio_token_file)
    tokens = token_file.load()
    region = options.region or "us"
    secret = environ.get(CLIO_SECRET_VARIABLE) or None
    oauth = None
    if options.clio_client_id and secret:
        oauth = ClioOAuth(options.clio_client_id, secret, redirect_uri="http://127.0.0.1/", region=region,
                          base_url=base_url)
    elif options.clio_client_id or secret:
        log.warning("Expired Clio tokens cannot be renewed: give both --clio-client-id and the environment "
                    "variable %s", CLIO_SECRET_VARIABLE)
    return ClioSource(tokens, oauth=oauth, region=region, base_url=base_url,
                      on_token_refresh=token_file.save if oauth else None)


def _open_cliniko(options: argparse.Namespace, environ: Mapping[str, str]) -> Source:
    from .sources.cliniko import ClinikoSource

    key = (environ.get(CLINIKO_KEY_VARIABLE) or "").strip()
    if not key:
        raise ConfigurationError(
            f"Set the environment variable {CLINIKO_KEY_VARIABLE} to the Cliniko API key (Cliniko: My Info > "
            f"Manage API keys); the key is never taken from the command line")
    if not options.contact_email:
        raise ConfigurationError(
            "Give --contact-email: Cliniko requires, in every request, the email address of the person it "
            "may contact about this integration")
    return ClinikoSource(key, options.contact_email, base_url=_checked_base_url(options.base_url))


# ---------------------------------------------------------------------------
# Map files


def load_map_file(path: os.PathLike | str) -> MapSpec:
    """The map in the JSON file ``path``; :class:`MappingError` names the file
    and each row that is wrong, without echoing the file's content."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"No map file at {p}: write one with flitstack propose --out {p.name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"Cannot read the map file {p} ({type(exc).__name__}): save it as UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"{p.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                           f"correct the file or write a new one with flitstack propose") from None
    try:
        return MapSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_validation_problem(err) for err in exc.errors()]
    if len(problems) == 1:
        raise MappingError(f"{p.name}: {problems[0]}")
    raise MappingError(f"{p.name} has {len(problems)} problems:\n" + "\n".join(f"- {m}" for m in problems))


def _validation_problem(err: Mapping[str, Any]) -> str:
    message = str(err.get("msg") or "is not valid")
    if message.startswith("Value error, "):
        return message[len("Value error, "):]
    where = ""
    for part in err.get("loc") or ():
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return f"{where}: {message}" if where else message


# ---------------------------------------------------------------------------
# The steps, as reports


def discover_report(source: Source, objects: Optional[list[ObjectInfo]] = None) -> dict[str, Any]:
    """Objects with their record counts, field counts and dependencies."""
    objects = source.discover() if objects is None else objects
    rows = [{"name": o.name, "label": o.label, "records": o.count, "fields": len(o.fields),
             "depends_on": list(o.depends_on)} for o in objects]
    known = [r["records"] for r in rows if r["records"] is not None]
    return {"source": source.kind, "objects": rows, "total_records": sum(known)}


def propose_report(source: Source, *, out: Optional[os.PathLike | str] = None,
                   objects: Optional[list[ObjectInfo]] = None, min_confidence: float = 0.0,
                   sample_size: int = SAMPLE_SIZE) -> tuple[dict[str, Any], MapSpec]:
    """A proposal against the Odoo 18 snapshot, starting from the source's
    default pack, and the map it gives (written to ``out`` when given)."""
    objects = source.discover() if objects is None else objects
    schema = TargetSchema.load_snapshot(SCHEMA_SNAPSHOT)
    pack_name = f"{source.kind}_odoo"
    samples = source.sample((o.name for o in objects), sample_size)
    proposal = propose_map(objects, schema, samples, pack=load_pack(pack_name), source_kind=source.kind)
    spec = proposal.to_spec(min_confidence=min_confidence)
    maps = []
    for op in proposal.objects:
        rows = [{"sources": list(fp.sources), "target": fp.target, "action": fp.action,
                 "confidence": round(fp.confidence, 2), "reason": fp.reason, "from_pack": fp.from_pack}
                for fp in op.fields]
        maps.append({"name": op.name, "source_object": op.source_object, "target_model": op.target_model,
                     "resolve_users": op.resolve_users, "confidence": round(op.confidence, 2),
                     "reason": op.reason, "rows": rows})
    written = None
    if out is not None:
        path = Path(out)
        try:
            path.write_text(spec.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"Cannot write the map to {path} ({exc.strerror}): choose another --out") from None
        written = str(path)
    report = {"source": source.kind, "pack": pack_name, "schema": SCHEMA_SNAPSHOT, "maps": maps,
              "object_maps": len(spec.objects), "custom_fields": len(spec.custom_fields), "written": written}
    return report, spec


def audit_report(source: Source, *, known_user_emails: Optional[Iterable[str]] = None,
                 text_limits: Optional[Mapping[str, int]] = None) -> dict[str, Any]:
    """The data-quality audit: counts per kind and per object, and each finding
    (object, id, row, field, message; never a value)."""
    report = audit(source, known_user_emails=known_user_emails, text_limits=text_limits)
    out = report.to_dict()
    out["source"] = source.kind
    out["checked_owners"] = known_user_emails is not None
    return out


class _Counted:
    """Records passing by, counted."""

    def __init__(self, records: Iterable[SourceRecord]):
        self._records = records
        self.count = 0

    def __iter__(self) -> Iterator[SourceRecord]:
        for record in self._records:
            self.count += 1
            yield record


def check_map_fits(spec: MapSpec, source: Source, schema: TargetSchema) -> None:
    """Raise :class:`MappingError` when ``spec`` was made for another kind of
    source, reads objects ``source`` does not have, or does not fit ``schema``."""
    if spec.source_kind != source.kind:
        raise MappingError(
            f"The map was made for a {spec.source_kind} source, not {source.kind}: propose one for this source "
            f"with flitstack propose --source {source.kind} --out map.json")
    if spec.destination != "odoo":
        raise MappingError(f"The map writes to {spec.destination}; flitstack dry-run checks maps into Odoo only")
    order = tuple(source.object_order)
    for om in spec.objects:
        if om.enabled and om.source_object not in order:
            raise MappingError(
                f"object map {om.name!r} reads source object {om.source_object!r}, which {source.kind} does not "
                f"have; choose one of {', '.join(order)}")
    validate_spec(spec, schema)


def _check_dry_run_options(limit: Optional[int], batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ConfigurationError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")
    if limit is not None and limit < 1:
        raise ConfigurationError("--limit must be 1 or more")


def dry_run_report(source: Source, spec: MapSpec, *, limit: Optional[int] = None,
                   batch_size: int = MAX_BATCH_SIZE, map_label: str = "") -> dict[str, Any]:
    """Rehearse a migration without a destination.

    1. check the map against the Odoo 18 snapshot (:func:`check_map_fits`);
    2. for each enabled object map in dependency order, read its source
       object (at most ``limit`` records), keep the records its filter takes
       and apply the map to each;
    3. count planned records, those that would fail (with the first reasons)
       and the batches of at most ``batch_size`` the loader would run.
    Records stream: memory holds one batch at a time.
    """
    _check_dry_run_options(limit, batch_size)
    check_map_fits(spec, source, TargetSchema.load_snapshot(SCHEMA_SNAPSHOT))
    maps = []
    for om in dependency_order(spec):
        records = source.read(om.source_object)
        read = _Counted(islice(records, limit) if limit is not None else records)
        planned = (apply_object_map(spec, om, r) for r in read if matches_filter(om, r))
        n_planned = n_failed = n_batches = 0
        first: list[dict[str, Any]] = []
        for batch in batches(planned, batch_size):
            n_batches += 1
            n_planned += len(batch)
            for p in batch:
                if p.errors:
                    n_failed += 1
                    if len(first) < FIRST_FAILURES:
                        first.append({"source_id": p.source_id, "row_number": p.row_number,
                                      "reasons": list(p.errors)})
        close = getattr(records, "close", None)
        if close:
            close()
        maps.append({"name": om.name, "source_object": om.source_object, "model": om.target_model,
                     "read": read.count, "planned": n_planned, "would_fail": n_failed, "batches": n_batches,
                     "first_failures": first})
    totals = {k: sum(m[k] for m in maps) for k in ("planned", "would_fail", "batches")}
    return {"source": source.kind, "map": map_label, "schema": SCHEMA_SNAPSHOT, "limit": limit,
            "batch_size": batch_size, "maps": maps, "totals": totals}


# ---------------------------------------------------------------------------
# Printing for people


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str], right: Sequence[int] = (),
           indent: str = "") -> list[str]:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines


def _where(object_name: str, source_id: str, row_number: Optional[int]) -> str:
    return f"{object_name} {source_id}" + (f" (row {row_number})" if row_number else "")


def _reason(text: str, row_number: Optional[int]) -> str:
    """A reason without the ``row N:`` prefix file sources give it, when the row is shown already."""
    prefix = f"row {row_number}: "
    return text[len(prefix):] if row_number and text.startswith(prefix) else text


def print_discover(report: Mapping[str, Any], out: TextIO) -> None:
    rows = [(o["name"], "?" if o["records"] is None else o["records"], o["fields"], ", ".join(o["depends_on"]))
            for o in report["objects"]]
    for line in _table(rows, ("Object", "Records", "Fields", "Depends on"), right=(1, 2)):
        print(line, file=out)
    print(f"\n{len(rows)} objects, {report['total_records']} records.", file=out)


def print_propose(report: Mapping[str, Any], out: TextIO, *, hints: bool = True) -> None:
    print(f"Proposal for {report['source']} -> {SCHEMA_LABEL}, starting from the default map {report['pack']}.",
          file=out)
    for m in report["maps"]:
        print("", file=out)
        if m["target_model"] is None:
            print(f"{m['name']}: {m['source_object']} is not migrated ({m['reason']})", file=out)
            continue
        lands = "matched to existing users" if m["resolve_users"] else m["target_model"]
        print(f"{m['name']}: {m['source_object']} -> {lands} (confidence {m['confidence']:.2f}; {m['reason']})",
              file=out)
        rows = [(" + ".join(r["sources"]), r["target"], r["action"], f"{r['confidence']:.2f}", r["reason"])
                for r in m["rows"] if r["action"] != "skip"]
        if rows:
            for line in _table(rows, ("Source field", "Target", "Action", "Conf.", "Reason"), right=(3,),
                               indent="  "):
                print(line, file=out)
        skipped: dict[str, list[str]] = {}
        for r in m["rows"]:
            if r["action"] == "skip":
                skipped.setdefault(r["reason"], []).extend(r["sources"])
        for reason, names in skipped.items():
            print(f"  left out: {', '.join(names)}; {reason}", file=out)
    print("", file=out)
    summary = f"{report['object_maps']} object maps, {report['custom_fields']} custom fields"
    if report["written"] and hints:
        print(f"Wrote the map to {report['written']} ({summary}). Review it, then rehearse it with "
              f"flitstack dry-run --source {report['source']} --map {report['written']}", file=out)
    elif report["written"]:
        print(f"Wrote the map to {report['written']} ({summary}).", file=out)
    else:
        print(f"The map has {summary}; add --out map.json to write it.", file=out)


def print_audit(report: Mapping[str, Any], out: TextIO, *, hints: bool = True) -> None:
    print(f"Read {report['total_records']} records of {len(report['objects'])} objects; "
          f"{report['total_findings']} findings.", file=out)
    if report["counts"]:
        print("\nFindings by kind:", file=out)
        for line in _table(list(report["counts"].items()), ("Kind", "Count"), right=(1,), indent="  "):
            print(line, file=out)
    print("\nBy object:", file=out)
    rows = [(name, o["records"], o["findings"]) for name, o in report["objects"].items()]
    for line in _table(rows, ("Object", "Records", "Findings"), right=(1, 2), indent="  "):
        print(line, file=out)
    if report["findings"]:
        shown = report["findings"][:FIRST_FINDINGS]
        print(f"\nFirst {len(shown)} of {len(report['findings'])} findings:", file=out)
        for f in shown:
            print(f"  {_where(f['object'], f['source_id'], f['row_number'])}: "
                  f"{_reason(f['message'], f['row_number'])}", file=out)
    if hints and not report["checked_owners"]:
        print("\nOwners and staff were not checked against destination users: give --user-emails FILE "
              "(one email per line) to check them.", file=out)


def print_dry_run(report: Mapping[str, Any], out: TextIO) -> None:
    label = f" {report['map']}" if report["map"] else ""
    print(f"Map{label} fits {SCHEMA_LABEL}. Dry run in dependency order, batches of at most "
          f"{report['batch_size']}" + (f", at most {report['limit']} records per object" if report["limit"] else "")
          + ":", file=out)
    rows = [(m["name"], m["source_object"], m["model"], m["read"], m["planned"], m["would_fail"], m["batches"])
            for m in report["maps"]]
    t = report["totals"]
    rows.append(("total", "", "", "", t["planned"], t["would_fail"], t["batches"]))
    for line in _table(rows, ("Object map", "Source object", "Model", "Read", "Planned", "Would fail", "Batches"),
                       right=(3, 4, 5, 6)):
        print(line, file=out)
    failing = [m for m in report["maps"] if m["first_failures"]]
    if failing:
        print("\nFirst records that would fail:", file=out)
        for m in failing:
            for f in m["first_failures"]:
                reasons = "; ".join(_reason(r, f["row_number"]) for r in f["reasons"])
                print(f"  {m['name']}: {_where(m['source_object'], f['source_id'], f['row_number'])}: {reasons}",
                      file=out)


# ---------------------------------------------------------------------------
# The demo


def _demo_source(kind: str, size: int, workdir: Path, stack: contextlib.ExitStack
                 ) -> tuple[Source, str, dict[str, Any]]:
    """A source on an emulated account of about ``size`` main records, what it
    is, and the audit options that fit it."""
    if kind == "clio":
        from .emulators.clio import ClioEmulator
        from .sources.clio import ClioSource

        matters = max(1, size // 2)
        entries, bills, trust = 4 * size, max(1, matters // 3), max(2, size // 5)
        # the demo account answers 600 requests a minute (Clio allows 50), so that the
        # demo's dozen reads of every object take seconds, not minutes
        documents = max(1, matters // 3)
        api = stack.enter_context(ClioEmulator(contacts=size, matters=matters, activities=entries, bills=bills,
                                               trust_transactions=trust, rate_limit=600, rate_window=60.0,
                                               history={"tasks": matters, "calendar_entries": matters}))
        api.with_documents(documents)
        source = ClioSource(api.issue_token(), base_url=api.base_url, rate_limit=600, rate_window=60.0)
        return source, (f"an emulated Clio account at {api.base_url} ({size} contacts, {matters} matters, "
                        f"{entries} time and expense entries, {bills} bills, {trust} trust transactions, "
                        f"{matters} tasks, {matters} calendar entries, {documents} documents, "
                        f"8 users, 6 practice areas)"), {}
    if kind == "cliniko":
        from .emulators.cliniko import ClinikoEmulator
        from .sources.cliniko import ClinikoSource

        appointments, notes, invoices = 2 * size, max(1, size // 5), max(1, size // 3)
        api = stack.enter_context(ClinikoEmulator(patients=size, appointments=appointments,
                                                  treatment_notes=notes, invoices=invoices))
        source = ClinikoSource(api.api_key, "demo@flitstack.example", base_url=api.base_url)
        return source, (f"an emulated Cliniko account at {api.base_url} ({size} patients, {appointments} "
                        f"appointments, {notes} treatment notes)"), {}
    from .emulators.exports import write_clientjoy_export, write_clinic_export

    defects = "all" if size >= 40 else ()
    if kind == "clientjoy":
        from .sources.clientjoy import ClientjoySource

        manifest = write_clientjoy_export(workdir / "clientjoy_export", people=size, leads=2 * size,
                                          defects=defects)
        source = ClientjoySource(manifest["path"])
        what = f"a generated Clientjoy export in {manifest['path']} ({size} clients, {2 * size} leads"
        options = {"known_user_emails": manifest["known_user_emails"]}
    else:
        from .sources.clinic_csv import ClinicCsvSource

        manifest = write_clinic_export(workdir / "clinic_export", patients=size, appointments=2 * size,
                                       defects=defects)
        source = ClinicCsvSource(manifest["path"])
        what = f"a generated clinic export in {manifest['path']} ({size} patients, {2 * size} appointments"
        options = {}
    planted = sum(len(v) for v in manifest["defects"].values())
    what += f", {planted} planted defects)" if planted else ")"
    return source, what, options


def run_demo(kind: str, size: int, workdir: Optional[str], as_json: bool, out: TextIO) -> int:
    if size < 1:
        raise ConfigurationError("--size must be 1 or more")
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if workdir:
            folder = Path(workdir)
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flitstack-demo-")))
        source, what, audit_options = _demo_source(kind, size, folder, stack)
        stack.callback(source.close)
        map_path = folder / "map.json"
        if not as_json:
            print(f"FlitStack demo on {what}. Nothing leaves this machine.", file=out)

        steps = 5 if kind == "clio" else 4

        def step(n: int, title: str) -> None:
            if not as_json:
                print(f"\n[{n}/{steps}] {title}\n", file=out)

        step(1, "discover: what the source holds")
        objects = source.discover()
        found = discover_report(source, objects)
        if not as_json:
            print_discover(found, out)
        step(2, f"propose: a map onto {SCHEMA_LABEL}")
        proposed, spec = propose_report(source, out=map_path, objects=objects)
        if not as_json:
            print_propose(proposed, out, hints=bool(workdir))
        step(3, "audit: what will not migrate cleanly")
        audited = audit_report(source, **audit_options)
        if not as_json:
            print_audit(audited, out, hints=False)
        step(4, "dry-run: the proposed map applied to every record")
        rehearsed = dry_run_report(source, spec, map_label=map_path.name)
        if not as_json:
            print_dry_run(rehearsed, out)
        migrated = None
        if kind == "clio":
            step(5, "migrate: into an emulated Dynamics 365 Sales, end to end")
            migrated = _demo_dynamics(source, stack, folder, out, as_json)
        elapsed = time.monotonic() - started
        if as_json:
            json.dump({"demo": {"source": kind, "size": size, "seconds": round(elapsed, 2),
                                "workdir": str(folder) if workdir else None},
                       "discover": found, "propose": proposed, "audit": audited, "dry_run": rehearsed,
                       **({"migrate": migrated} if migrated is not None else {})},
                      out, indent=2, default=str)
            out.write("\n")
        else:
            kept = f" The export and map.json are in {folder}." if workdir else ""
            print(f"\nDone in {elapsed:.1f} s.{kept} Next, the same steps on your own data: flitstack discover "
                  f"--source {kind} " + _connection_hint(kind), file=out)
    return EXIT_OK


def _demo_dynamics(source: Source, stack: contextlib.ExitStack, folder: Path, out: TextIO,
                   as_json: bool) -> dict[str, Any]:
    """Migrate the emulated Clio account into an emulated Dataverse with the
    command's own runner: confirm the map, resolve staff (one attorney without a
    system user, owned by a fallback), provision, load, re-run, then print the
    reconciliation."""
    from .destinations.dynamics.auth import ClientCredentials
    from .destinations.dynamics.client import DataverseClient
    from .emulators.dataverse import DataverseEmulator
    from .runs.commands import print_reconciliation
    from .runs.migration import DynamicsMigration
    from .runs.store import StateStore

    users = [r.data for r in source.read("users")]
    dv_users = [{"fullname": u.get("name"), "internalemailaddress": u.get("email"), "isdisabled": False}
                for u in users[:-1]]
    dv_users.append({"fullname": "Migration Owner", "internalemailaddress": "owner@lawfirm.example"})
    dv = stack.enter_context(DataverseEmulator(users=dv_users))
    creds = ClientCredentials(dv.tenant, dv.client_id, dv.client_secret, dv.environment_url, authority=dv.authority,
                              verify=dv.ca_bundle_path)
    client = DataverseClient(dv.environment_url, creds.token, max_parallel=4)
    stack.callback(client.close)
    store = StateStore(str(folder / "flitstack-state.sqlite"))
    stack.callback(store.close)
    mig = DynamicsMigration(store, source, client, source_url=getattr(source, "base_url", "clio"))
    prepared = mig.prepare(None, fallback_owner="owner@lawfirm.example", confirm=True, confirmed_by="demo")
    report = mig.run(prepared)
    again = mig.run(mig.prepare(None, fallback_owner="owner@lawfirm.example"))
    if not as_json:
        print(f"Emulated Dataverse at {dv.environment_url} (identity platform at {dv.authority}). Map version "
              f"{report['map_version']} confirmed; {len(prepared.staff.flagged)} Clio user(s) without an enabled "
              f"system user, owned by the fallback owner; {len(report['provisioned']['created_tables'])} custom "
              f"table, {len(report['provisioned']['created_columns'])} custom columns, "
              f"{len(report['provisioned']['created_lookups'])} lookups and "
              f"{len(report['provisioned']['created_keys'])} alternate keys created.\n", file=out)
        print_reconciliation(report, out)
        print(f"\nA re-run (run {again['run']}) created {again['totals']['created']}, updated "
              f"{again['totals']['updated']} and skipped {again['totals']['skipped']}. Rows in Dynamics 365: "
              + ", ".join(f"{t} {n}" for t, n in dv.row_counts().items() if n and t != "organization"), file=out)
    return {"first_run": report, "re_run": again, "row_counts": dv.row_counts()}


def _connection_hint(kind: str) -> str:
    if kind == "clio":
        return "--clio-token-file token.json"
    if kind == "cliniko":
        return f"--contact-email you@example.com (with {CLINIKO_KEY_VARIABLE} set)"
    return "--path EXPORT_FOLDER_OR_ZIP"


# ---------------------------------------------------------------------------
# Arguments


def _text_limits(values: Optional[Sequence[str]]) -> Optional[dict[str, int]]:
    if not values:
        return None
    out = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not name or not number.strip().isdigit():
            raise ConfigurationError(f"--text-limit takes OBJECT.FIELD=CHARACTERS (such as notes=10000), "
                                     f"not {value!r}")
        out[name.strip()] = int(number)
    return out


def _user_emails(path: Optional[str]) -> Optional[list[str]]:
    if path is None:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the user email file {path} ({exc.strerror}): check the path") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    common.add_argument("--traceback", action="store_true",
                        help="on an unexpected error, print the full traceback (for a bug report)")

    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--source", required=True, choices=KINDS, help="the system to read")
    clio = connection.add_argument_group(
        "Clio", "Tokens come from a file; renewed tokens are written back to it when --clio-client-id is given "
                f"and the client secret is in the environment variable {CLIO_SECRET_VARIABLE}.")
    clio.add_argument("--clio-token-file", metavar="FILE",
                      help='JSON file with the token set: {"access_token", "refresh_token", "expires_at"}')
    clio.add_argument("--region", choices=("us", "eu", "ca", "au"), help="the Clio region the account lives in "
                                                                         "(default us)")
    clio.add_argument("--clio-client-id", metavar="ID", help="the application's client id, to renew expired tokens")
    cliniko = connection.add_argument_group(
        "Cliniko", f"The API key is read from the environment variable {CLINIKO_KEY_VARIABLE}, never from the "
                   f"command line: arguments show up in process lists (ps) and shell history.")
    cliniko.add_argument("--contact-email", metavar="EMAIL",
                         help="email address Cliniko may contact about this integration (sent as User-Agent)")
    cliniko.add_argument("--api-key", nargs="?", const="", metavar="KEY",
                         help=f"not accepted: set {CLINIKO_KEY_VARIABLE} instead")
    api = connection.add_argument_group("Clio and Cliniko")
    api.add_argument("--base-url", metavar="URL",
                     help="another API host: Clio's host (https://eu.app.clio.com), Cliniko's API root "
                          "(https://api.au2.cliniko.com/v1); http only for 127.0.0.1")
    files = connection.add_argument_group("Clientjoy and clinic CSV exports")
    files.add_argument("--path", metavar="PATH", help="the export folder or its .zip file")

    parser = argparse.ArgumentParser(
        prog="flitstack",
        description="Look at a Clio, Cliniko, Clientjoy or clinic CSV source, propose a map onto Odoo 18 CRM, "
                    "audit the data and rehearse the migration, without a database. Start with: flitstack demo",
        epilog="Exit codes: 0 done, 2 the command could not run (the message says what to do), "
               "1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"flitstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("discover", parents=[common, connection], help="objects, field counts and record counts",
                   description="List the source's objects with their record and field counts.")

    p = sub.add_parser("propose", parents=[common, connection], help="propose a map onto Odoo 18 CRM",
                       description="Propose a map from the source onto Odoo 18 CRM, starting from the default "
                                   "map for the source, and show each row with its confidence and reason.")
    p.add_argument("--out", metavar="FILE", help="write the proposed map (JSON) to FILE")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="X",
                   help="leave rows below this confidence (0..1) out of the written map")

    p = sub.add_parser("audit", parents=[common, connection], help="data-quality findings",
                       description="Find what will not migrate cleanly: missing and repeated ids, malformed "
                                   "dates and emails, duplicate people, orphan references, owners without a "
                                   "user. Shows ids and row numbers, never values.")
    p.add_argument("--user-emails", metavar="FILE",
                   help="the destination's user emails, one per line: owners without one are reported")
    p.add_argument("--text-limit", action="append", metavar="OBJECT.FIELD=N",
                   help="report texts longer than N characters (repeatable)")

    p = sub.add_parser("dry-run", parents=[common, connection], help="rehearse the migration without writing",
                       description="Check the map against Odoo 18 CRM, then read the source, apply the map in "
                                   "dependency order and count planned records, would-fail records and batches.")
    p.add_argument("--map", metavar="FILE", help="the map to use (default: the default map for the source)")
    p.add_argument("--limit", type=int, metavar="N", help="read at most N records of each object")
    p.add_argument("--batch-size", type=int, default=MAX_BATCH_SIZE, metavar="N",
                   help=f"records per batch (1..{MAX_BATCH_SIZE}, default {MAX_BATCH_SIZE})")

    from .runs.commands import add_dynamics_options

    p = sub.add_parser("migrate", parents=[common, connection], help="migrate Clio into Dynamics 365 Sales",
                       description="Migrate a Clio account into Dynamics 365 Sales through the Dataverse Web API: "
                                   "the map must be confirmed, staff resolved and pre-flight clean; custom columns "
                                   "and the alternate key are created; records load in batches of at most 500 with "
                                   "an audit line each; an interrupted run resumes when started again.")
    add_dynamics_options(p)
    p.add_argument("--mode", choices=("full", "delta", "sample"), default="full",
                   help="full; delta: records changed since the previous run; sample: a slice with a field diff")
    p.add_argument("--confirm", action="store_true", help="confirm the map (after your review) and start")

    p = sub.add_parser("map", parents=[common, connection], help="show or confirm the Dynamics 365 map",
                       description="Show the map for this account (the default pack completed with the account's "
                                   "custom fields and practice areas), or confirm it so that migrate may use it.")
    p.add_argument("action", choices=("show", "confirm"))
    add_dynamics_options(p)
    p.add_argument("--by", metavar="NAME", help="who confirms (default: the login name)")

    p = sub.add_parser("runs", parents=[common], help="runs in the state store with their counts")
    p.add_argument("--state", metavar="PATH|URL", help="the state store (default flitstack-state.sqlite)")

    p = sub.add_parser("rollback", parents=[common], help="roll a Dynamics 365 run back from its audit log")
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    add_dynamics_options(p)

    p = sub.add_parser("blueprints", parents=[common, connection], help="JSON blueprints of what cannot migrate",
                       description="Read what the source holds that Odoo cannot take as data (templates, workflows, "
                                   "stages, webhooks, settings, rates) and write one JSON document per kind, its "
                                   "JSON Schema and an index into one zip archive, each item with the Odoo feature "
                                   "to rebuild it with.")
    p.add_argument("--out", metavar="FILE.zip", required=True, help="the zip archive to write")

    p = sub.add_parser("demo", parents=[common], help="all four steps on an emulated account, offline",
                       description="Start an emulated account (a local Clio or Cliniko server, or a generated "
                                   "export) and run discover, propose, audit and dry-run on it. Works offline.")
    p.add_argument("--source", choices=KINDS, default="clio", help="the system to emulate (default clio)")
    p.add_argument("--size", type=int, default=DEMO_SIZE, metavar="N",
                   help=f"main records in the account (contacts, patients, clients; default {DEMO_SIZE})")
    p.add_argument("--workdir", metavar="DIR",
                   help="keep the generated export and map.json in DIR (default: a temporary folder, removed)")
    return parser


# ---------------------------------------------------------------------------
# Entry point


def _run_dynamics(args: argparse.Namespace, out: TextIO) -> int:
    from .runs import commands

    if args.command == "runs":
        report, printer = commands.runs_report(args), commands.print_runs
    elif args.command == "rollback":
        report, printer = commands.rollback(args), commands.print_rollback
    else:
        if args.source != "clio":
            raise ConfigurationError("Only Clio migrates into Dynamics 365 for now: use --source clio")
        source = open_source(args)
        try:
            source_url = getattr(source, "base_url", args.source)
            if args.command == "migrate":
                report, printer = commands.migrate(args, source, out, source_url=source_url), commands.print_migrate
            else:
                report, printer = _map_command(args, source, source_url, out)
        finally:
            source.close()
    if args.json:
        json.dump(report, out, indent=2, default=str)
        out.write("\n")
    else:
        printer(report, out)
    return EXIT_OK


def _map_command(args: argparse.Namespace, source: Source, source_url: str, out: TextIO):
    from .runs import commands
    from .runs.migration import DynamicsMigration
    from .runs.store import StateStore

    client = commands.open_dynamics(args)
    store = StateStore(args.state)
    try:
        mig = DynamicsMigration(store, source, client, source_url=source_url, tenant=args.tenant,
                                client_id=args.dynamics_client_id, prefix=args.prefix)
        spec, _objects = mig.map_for_account(load_map_file(args.map) if args.map else None)
        version = mig.confirm(spec, args.by) if args.action == "confirm" else mig.map_version(spec)
    finally:
        store.close()
        client.close()
    report = {"version": version["version"], "confirmed_by": version["confirmed_by"],
              "confirmed_at": version["confirmed_at"], "map": json.loads(spec.to_json())}

    def printer(r, o):
        if args.action == "show":
            o.write(json.dumps(r["map"], indent=2) + "\n")
        state = f"confirmed by {r['confirmed_by']} at {r['confirmed_at']}" if r["confirmed_at"] else "not confirmed"
        print(f"Map version {r['version']}: {state}.", file=sys.stderr if args.action == "show" else o)
    return report, printer


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "demo":
        return run_demo(args.source, args.size, args.workdir, args.json, out)
    if args.command in ("migrate", "map", "runs", "rollback"):
        return _run_dynamics(args, out)
    if args.command == "blueprints":
        return run_blueprints(args, out)
    # check what needs no connection first
    spec: Optional[MapSpec] = None
    text_limits: Optional[dict[str, int]] = None
    user_emails: Optional[list[str]] = None
    if args.command == "dry-run":
        _check_dry_run_options(args.limit, args.batch_size)
        spec = load_map_file(args.map) if args.map else None
    elif args.command == "audit":
        text_limits, user_emails = _text_limits(args.text_limit), _user_emails(args.user_emails)
    elif args.command == "propose" and not 0.0 <= args.min_confidence <= 1.0:
        raise ConfigurationError("--min-confidence must be between 0 and 1")
    source = open_source(args)
    try:
        if args.command == "discover":
            report, printer = discover_report(source), print_discover
        elif args.command == "propose":
            report, _spec = propose_report(source, out=args.out, min_confidence=args.min_confidence)
            printer = print_propose
        elif args.command == "audit":
            report = audit_report(source, known_user_emails=user_emails, text_limits=text_limits)
            printer = print_audit
        else:
            label = Path(args.map).name if args.map else f"{source.kind}_odoo (default)"
            report = dry_run_report(source, spec or load_pack(f"{source.kind}_odoo"), limit=args.limit,
                                    batch_size=args.batch_size, map_label=label)
            printer = print_dry_run
    finally:
        source.close()
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        printer(report, out)
    return EXIT_OK


def run_blueprints(args: argparse.Namespace, out: TextIO) -> int:
    """``flitstack blueprints``: the source's blueprints into one zip archive."""
    from .blueprints import read_blueprints, write_zip

    target = Path(args.out)
    if target.suffix.lower() != ".zip":
        raise ConfigurationError("--out names the zip archive to write: give a FILE.zip")
    source = open_source(args)
    try:
        blueprints = read_blueprints(source)
    finally:
        source.close()
    write_zip(blueprints, target)
    report = {**blueprints.summary(), "out": str(target)}
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
        return EXIT_OK
    rows = [(k["kind"], k["items"], k["title"]) for k in report["kinds"]]
    out.write("\n".join(_table(rows, ("kind", "items", "what"), right=(1,))) + "\n")
    for kind in report["absent"]:
        out.write(f"{kind}: the export has no file for it\n")
    out.write(f"Wrote {len(rows)} blueprints to {target}\n")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``flitstack`` command with ``argv`` (default: the process
    arguments) and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="flitstack: %(message)s", stream=sys.stderr)
    try:
        return _run(args, sys.stdout)
    except FlitstackError as exc:
        print(f"flitstack: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("flitstack: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (flitstack ... | head): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNEXPECTED
    except Exception as exc:  # noqa: BLE001 - one line, no values, unless asked for
        if args.traceback:
            traceback.print_exc()
        else:
            print(f"flitstack: unexpected {type(exc).__name__} in {args.command}; run it again with --traceback "
                  f"and report the output", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
