"""How well map proposal reproduces the default packs, against Odoo's own import rules.

Run ``python bench/bench_propose.py`` (``-v`` lists every missed and extra pair).

For every default pack in ``flitstack_connectors/mapping/packs/`` whose source
this script can stand up (Clio and Cliniko through their emulators, Clientjoy
and clinic CSV through generated exports), in one process and on the same
discovered fields and sampled records:

1. ``propose_map`` proposes a whole map on its own: which model each object
   goes to, and where each field lands (or which new custom field it needs);
2. the baseline follows the suggestion rules of Odoo 18's import
   (``base_import.import._get_mapping_suggestion``): for each column of each
   object, against the model the pack sends that object to, an exact match
   of the column name with a field's technical name or label (case folded),
   else the field whose name or label is nearest by ``difflib`` ratio, when
   the distance ``1 - ratio`` is below 0.2, among the fields whose type fits
   what the column's first ten values look like; one column per field, the
   nearest kept.  Like the import, it sees importable fields only (not
   read-only, not ``create_date`` and the other log columns) and never
   creates a field;
3. both are scored against the pack as ground truth with
   :mod:`flitstack_connectors.mapping.agreement` (pairs of source path and
   target field; new custom fields compared as a kind).

Then, on exports that are not in the packs (``bench/heldout/*.json``: header
lists of HubSpot, Salesforce, Zoho and Pipedrive exports as their vendors
document them, sample values written for the bench, and the right Odoo field
per header, or none where a new custom field or nothing is right), both
methods propose a target for each header and the share placed right is
printed: a header is right when it lands on one of the fields its entry
accepts, or on no existing field when its entry says none fits.  The
vocabulary never sees these files; they measure how the proposal does on
exports it was not written for.

It prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from flitstack_connectors.mapping.agreement import Agreement, Pair, agreement
from flitstack_connectors.mapping.apply import get_path
from flitstack_connectors.mapping.propose import propose_map
from flitstack_connectors.mapping.spec import MapSpec, available_packs, load_pack
from flitstack_connectors.mapping.target_schema import FieldSpec, TargetSchema
from flitstack_connectors.records import FieldInfo, ObjectInfo, SourceRecord

#: records sampled per object, for both methods
SAMPLE_SIZE = 60
#: rows the Odoo import previews to guess column types
PREVIEW_ROWS = 10
#: the import's cut-off: a fuzzy suggestion needs a distance below this
FUZZY_MATCH_DISTANCE = 0.2
#: columns Odoo never offers in an import (models.MAGIC_COLUMNS)
MAGIC_COLUMNS = ("id", "create_uid", "create_date", "write_uid", "write_date")

Inputs = tuple[list[ObjectInfo], dict[str, list[SourceRecord]]]

HELDOUT_DIR = Path(__file__).with_name("heldout")


# ---------------------------------------------------------------------------
# Sources



def clio_inputs(workdir: Path) -> Inputs:
    from flitstack_connectors.emulators.clio import ClioEmulator
    from flitstack_connectors.sources.clio import ClioSource
    emulator = ClioEmulator(contacts=300, matters=150, rate_limit=100_000, rate_window=60.0).start()
    try:
        source = ClioSource(emulator.issue_token(), base_url=emulator.base_url)
        objects = source.discover()
        samples = source.sample((o.name for o in objects), SAMPLE_SIZE)
        source.close()
    finally:
        emulator.stop()
    return objects, samples


def cliniko_inputs(workdir: Path) -> Inputs:
    from flitstack_connectors.emulators.cliniko import ClinikoEmulator
    from flitstack_connectors.sources.cliniko import ClinikoSource
    emulator = ClinikoEmulator(patients=150, appointments=300, treatment_notes=40, invoices=60, products=15,
                               contacts=20, group_appointments=8, attachments=4, rate_limit=100_000).start()
    try:
        source = ClinikoSource(emulator.api_key, "bench@example.org", base_url=emulator.base_url)
        objects = source.discover()
        samples = source.sample((o.name for o in objects), SAMPLE_SIZE)
        source.close()
    finally:
        emulator.stop()
    return objects, samples


def clinic_csv_inputs(workdir: Path) -> Inputs:
    from flitstack_connectors.emulators.exports import write_clinic_export
    from flitstack_connectors.sources.clinic_csv import ClinicCsvSource
    manifest = write_clinic_export(workdir / "clinic", patients=150, appointments=300, seed=7)
    source = ClinicCsvSource(manifest["path"])
    objects = source.discover()
    return objects, source.sample((o.name for o in objects), SAMPLE_SIZE)


def clientjoy_inputs(workdir: Path) -> Inputs:
    from flitstack_connectors.emulators.exports import write_clientjoy_export
    from flitstack_connectors.sources.clientjoy import ClientjoySource
    manifest = write_clientjoy_export(workdir / "clientjoy", people=150, leads=300, seed=7)
    source = ClientjoySource(manifest["path"])
    objects = source.discover()
    return objects, source.sample((o.name for o in objects), SAMPLE_SIZE)


INPUTS: dict[str, Callable[[Path], Inputs]] = {
    "clio": clio_inputs, "cliniko": cliniko_inputs, "clinic_csv": clinic_csv_inputs, "clientjoy": clientjoy_inputs,
}


# ---------------------------------------------------------------------------
# The Odoo import's suggestion rules


_DATE_PARTS = {"d": r"(3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])", "m": r"(1[0-2]|0[1-9]|[1-9])",
               "Y": r"(\d\d\d\d)", "y": r"(\d\d)", "H": r"(2[0-3]|[0-1]\d|\d)", "I": r"(1[0-2]|0[1-9]|[1-9])",
               "M": r"([0-5]\d|\d)", "S": r"(6[0-1]|[0-5]\d|\d)", "p": r"(am|pm)"}
_DATE_ORDERS = [("m", "d", "Y"), ("d", "m", "Y"), ("Y", "m", "d"), ("Y", "d", "m")]
_TIMES = ["H:M:S", "H:M", "H", "I:M:S p", "I:M p", "I p"]


def _date_regexes() -> tuple[list[re.Pattern], list[re.Pattern]]:
    """The date and date-time shapes the import tries: day, month and year in
    four orders, long or short year, five separators, then with six time shapes."""
    dates = []
    for sep in (" ", "/", "-", ".", ""):
        for order in _DATE_ORDERS:
            for year in ("Y", "y"):
                parts = [year if p == "Y" else p for p in order]
                dates.append(re.escape(sep).join(_DATE_PARTS[p] for p in parts))
    times = ["".join(_DATE_PARTS.get(ch, re.escape(ch)) if ch.isalpha() else (r"\s+" if ch == " " else re.escape(ch))
                     for ch in t) for t in _TIMES]
    date_res = [re.compile(f"^{d}$", re.I) for d in dates]
    datetime_res = [re.compile(f"^{d}\\s+{t}$", re.I) for d in dates for t in times]
    return date_res, datetime_res


_DATE_RES, _DATETIME_RES = _date_regexes()
_NUMBER = re.compile(r"^\(?[+-]?[^\d.,()+-]{0,3}\s?[+-]?[0-9.,]+\s?[^\d.,()]{0,3}\)?$")


def header_types(values: list[str]) -> list[str]:
    """The field types a column may go to, from its preview values (the
    import's ``_extract_header_types``)."""
    distinct = set(values)
    if distinct <= {""}:
        return ["all"]
    if all(v.startswith("__export__") for v in distinct):
        return ["id", "many2many", "many2one", "one2many"]
    if all(v.isdigit() for v in distinct if v):
        types = ["integer", "float", "monetary"]
        if {"0", "1", ""} >= distinct:
            types.append("boolean")
        return types
    if all(v.lower() in ("true", "false", "t", "f", "") for v in values):
        return ["boolean"]
    if all(_NUMBER.match(v) and any(c.isdigit() for c in v) for v in values if v):
        return ["float", "monetary"]
    for shapes, types in ((_DATE_RES, ["date", "datetime"]), (_DATETIME_RES, ["datetime"])):
        if any(all(shape.match(v) for v in values if v) for shape in shapes):
            return types
    return ["text", "char", "binary", "selection", "html", "tags"]


def _distance(a: str, b: str) -> float:
    return 1 - difflib.SequenceMatcher(None, a, b).ratio()


def base_import_suggestions(headers: list[str], previews: dict[str, list[str]],
                            fields: dict[str, FieldSpec]) -> dict[str, str]:
    """Column -> field, as the Odoo import would suggest on loading the file."""
    importable = {n: f for n, f in fields.items() if n not in MAGIC_COLUMNS and not f.readonly}
    suggestions: dict[str, tuple[str, float]] = {}
    for header in headers:
        folded = header.casefold()
        exact = next((n for n, f in importable.items()
                      if folded == n.casefold() or folded == (f.label or "").casefold()), None)
        if exact is not None:
            suggestions[header] = (exact, 0.0)
            continue
        types = header_types(previews.get(header, []))
        best, best_distance = None, 1.0
        for name, spec in importable.items():
            if spec.type not in types:
                continue
            distance = min(_distance(folded, name.casefold()), _distance(folded, (spec.label or "").casefold()))
            if distance < best_distance:
                best, best_distance = name, distance
        if best is not None and best_distance < FUZZY_MATCH_DISTANCE:
            suggestions[header] = (best, best_distance)
    # one column per field: the nearest keeps it
    nearest: dict[str, tuple[float, str]] = {}
    for header, (name, distance) in suggestions.items():
        if name not in nearest or distance < nearest[name][0]:
            nearest[name] = (distance, header)
    return {header: name for name, (_d, header) in nearest.items()}


def _preview_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value).strip()


def baseline_pairs(objects: list[ObjectInfo], samples: dict[str, list[SourceRecord]], pack: MapSpec,
                   schema: TargetSchema) -> set[Pair]:
    out: set[Pair] = set()
    by_name = {o.name: o for o in objects}
    targets = sorted({(om.source_object, om.target_model) for om in pack.objects if om.enabled})
    for source_object, model in targets:
        obj = by_name.get(source_object)
        if obj is None or model not in schema:
            continue
        headers = [f.name for f in obj.fields]
        records = samples.get(source_object, [])[:PREVIEW_ROWS]
        previews = {h: [_preview_text(get_path(r.data, h)) for r in records] for h in headers}
        for header, name in base_import_suggestions(headers, previews, schema.fields(model)).items():
            out.add((source_object, header, model, name))
    return out


# ---------------------------------------------------------------------------
# Exports the packs have never seen


def load_heldout(directory: Path = HELDOUT_DIR) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


def heldout_inputs(case: dict[str, Any]) -> tuple[ObjectInfo, list[SourceRecord]]:
    """A CSV export as a file source reports it: every column a char field named
    by its header, records holding the sampled values."""
    name = case["object"]["name"]
    obj = ObjectInfo(name=name, label=case["object"].get("label", ""),
                     fields=[FieldInfo(name=f["header"]) for f in case["fields"]])
    rows = max(len(f["values"]) for f in case["fields"])
    records = [SourceRecord(object=name, source_id=str(i), data={
        f["header"]: (f["values"][i] if i < len(f["values"]) else "") for f in case["fields"]})
        for i in range(rows)]
    return obj, records


def _accepted(target: Any) -> set[Optional[str]]:
    return set(target) if isinstance(target, list) else {target}


def heldout_score(case: dict[str, Any], placed: dict[str, set[str]]) -> tuple[int, list[str]]:
    """Headers placed right, and a line for each one placed wrong."""
    right, wrong = 0, []
    for f in case["fields"]:
        accepted = _accepted(f["target"])
        got = placed.get(f["header"], set())
        if (got & accepted) or (not got and None in accepted):
            right += 1
        else:
            wrong.append(f"{f['header']!r}: {', '.join(sorted(got)) or 'no existing field'} "
                         f"(right: {', '.join(str(t) for t in sorted(accepted, key=str))})")
    return right, wrong


def heldout_ours(case: dict[str, Any], schema: TargetSchema) -> dict[str, set[str]]:
    obj, records = heldout_inputs(case)
    kind = re.sub(r"[^a-z0-9]+", "_", case["vendor"].lower()).strip("_")
    proposal = propose_map([obj], schema, {obj.name: records}, source_kind=kind)
    placed: dict[str, set[str]] = {}
    for source_object, path, model, target in proposal.pairs(include_custom=False):
        if source_object == obj.name and model == case["model"]:
            placed.setdefault(path, set()).add(target)
    return placed


def heldout_base(case: dict[str, Any], schema: TargetSchema) -> dict[str, set[str]]:
    obj, records = heldout_inputs(case)
    headers = [f.name for f in obj.fields]
    previews = {h: [_preview_text(r.data.get(h)) for r in records[:PREVIEW_ROWS]] for h in headers}
    suggestions = base_import_suggestions(headers, previews, schema.fields(case["model"]))
    return {h: {t} for h, t in suggestions.items()}


def run_heldout(schema: TargetSchema, verbose: bool = False) -> tuple[int, int, int]:
    cases = load_heldout()
    if not cases:
        print(f"no held-out exports in {HELDOUT_DIR}")
        return 0, 0, 0
    print("Exports not in the packs (bench/heldout): headers placed right")
    print(f"{'export':<28} | {'model':<12} | {'propose_map':>16} | {'Odoo base_import rules':>22}")
    print("-" * 88)
    total = ours_total = base_total = 0
    for case in cases:
        n = len(case["fields"])
        ours, ours_wrong = heldout_score(case, heldout_ours(case, schema))
        base, _base_wrong = heldout_score(case, heldout_base(case, schema))
        total, ours_total, base_total = total + n, ours_total + ours, base_total + base
        label = f"{case['vendor']} {case['object']['name']}"
        print(f"{label:<28} | {case['model']:<12} | {ours:>4}/{n:<3} {ours / n:6.3f} | "
              f"{base:>10}/{n:<3} {base / n:6.3f}")
        if verbose:
            for line in ours_wrong:
                print(f"    wrong  {line}")
    print("-" * 88)
    print(f"{'all held-out exports':<28} | {'':<12} | {ours_total:>4}/{total:<3} {ours_total / total:6.3f} | "
          f"{base_total:>10}/{total:<3} {base_total / total:6.3f}")
    print()
    return total, ours_total, base_total


# ---------------------------------------------------------------------------
# The table


def _cell(a: Agreement) -> str:
    return f"{a.precision:6.3f} {a.recall:6.3f} {len(a.hits):4d}/{len(a.reference):<4d}"


def _detail(title: str, a: Agreement) -> None:
    print(f"  {title}: {a.summary()}")
    for pair in a.missing:
        print(f"    missing  {pair[0]}.{pair[1]} -> {pair[2]}.{pair[3]}")
    for pair in a.extra:
        print(f"    extra    {pair[0]}.{pair[1]} -> {pair[2]}.{pair[3]}")


#: the shipped schema snapshot a pack's destination is proposed against
DESTINATION_SCHEMAS = {"odoo": "odoo18_crm", "dynamics": "dynamics365_sales"}


def run(packs: Optional[Iterable[str]] = None, verbose: bool = False) -> int:
    schema = TargetSchema.load_snapshot()
    schemas = {"odoo": schema}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in packs or available_packs():
            pack = load_pack(name)
            build = INPUTS.get(pack.source_kind)
            if build is None:
                print(f"{name}: no emulator or export generator for source kind {pack.source_kind!r}; skipped")
                continue
            try:
                objects, samples = build(Path(tmp))
            except Exception as exc:  # a source being changed elsewhere must not hide the other figures
                print(f"{name}: could not read the emulated {pack.source_kind} ({type(exc).__name__}); skipped")
                continue
            destination = getattr(pack, "destination", "odoo")
            if destination not in schemas:
                schemas[destination] = TargetSchema.load_snapshot(DESTINATION_SCHEMAS.get(destination, destination))
            target = schemas[destination]
            started = time.perf_counter()
            proposal = propose_map(objects, target, samples, source_kind=pack.source_kind)
            ours_seconds = time.perf_counter() - started
            ours = agreement(proposal.pairs(), pack)
            started = time.perf_counter()
            base = agreement(baseline_pairs(objects, samples, pack, target), pack)
            base_seconds = time.perf_counter() - started
            rows.append((name, ours, base, ours_seconds, base_seconds, destination))
            if verbose:
                print(f"{name}")
                _detail("propose_map", ours)
                _detail("base_import", base)
    print()
    for title, view in (("All pairs", lambda a: a),
                        ("Pairs into fields Odoo already has (the import cannot create fields)",
                         lambda a: a.existing_fields_only())):
        print(title)
        print(f"{'pack':<18} | {'propose_map':^26} | {'Odoo base_import rules':^26} | {'seconds':^15}")
        print(f"{'':<18} | {'prec':>6} {'recall':>6} {'hits':>9}   | {'prec':>6} {'recall':>6} {'hits':>9}   "
              f"| {'ours':>6} {'base':>7}")
        print("-" * 96)
        for name, ours, base, s_ours, s_base, _destination in rows:
            print(f"{name:<18} | {_cell(view(ours))} | {_cell(view(base))} | {s_ours:6.2f} {s_base:7.2f}")
        odoo_rows = [r for r in rows if r[5] == "odoo"]
        if odoo_rows:
            print("-" * 96)
            print(f"{'all Odoo packs':<18} | {_cell(view(_pooled(r[1] for r in odoo_rows)))} | "
                  f"{_cell(view(_pooled(r[2] for r in odoo_rows)))} |")
        print()
    print("prec = proposed pairs the pack also has / proposed pairs counted; recall = pack pairs proposed / "
          "pack pairs.\nA pair is (source path, target field); new custom fields count as one kind of target.")
    print()
    total, ours_h, base_h = run_heldout(schema, verbose)
    odoo_rows = [r for r in rows if r[5] == "odoo"]
    if odoo_rows and total:
        packs = _pooled(r[1] for r in odoo_rows)
        packs_base = _pooled(r[2] for r in odoo_rows)
        print(f"Summary: Odoo packs recall {packs.recall:.3f} precision {packs.precision:.3f} "
              f"(base_import {packs_base.recall:.3f} / {packs_base.precision:.3f}); "
              f"held-out exports placed right {ours_h / total:.3f} (base_import {base_h / total:.3f})")
    return 0


def _pooled(agreements: Iterable[Agreement]) -> Agreement:
    items = list(agreements)
    return Agreement(reference=frozenset(p for a in items for p in a.reference),
                     proposed=frozenset(p for a in items for p in a.proposed),
                     hits=frozenset(p for a in items for p in a.hits))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packs", nargs="*", help="pack names (default: every pack in packs/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list missed and extra pairs")
    args = parser.parse_args(argv)
    return run(args.packs or None, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
