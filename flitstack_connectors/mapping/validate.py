"""Check a map against the destination's fields before anything loads.

:func:`validate_spec` is the gate: it raises :class:`MappingError` naming each
row the destination cannot take (unknown model or field, a value of the wrong
type, a lookup into a field that holds no reference, two rows writing one
field).  :func:`preflight` looks further, at what the records will bring: it
returns findings (required fields nothing writes, picklist values a value map
does not cover) for the admin to settle; the Odoo addon owns the full
pre-flight against a database.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Optional, Union

from pydantic import ValidationError

from ..errors import MappingError
from ..records import ObjectInfo, SourceRecord
from .apply import get_path, matches_filter
from .spec import CustomField, FieldRow, LookupRow, MapSpec, ObjectMap
from .target_schema import RELATIONAL_TYPES, FieldSpec, TargetSchema
from .transforms import TRANSFORMS, TransformError

#: read-only fields the loader writes itself (original creation dates)
LOADER_WRITES_READONLY = frozenset({"create_date"})
#: fields the ORM keeps for itself; a read-only field that is neither computed nor one
#: of these (an invoice's ``move_type``, a line's ``move_id``) is set when the record
#: is created, which is what the loader does
ORM_OWNED = frozenset({"id", "create_uid", "write_uid", "write_date", "display_name"})

#: what each transform hands on; ``None``: whatever came in
TRANSFORM_OUTPUT: dict[str, Optional[str]] = {
    "strip": None, "primary": None,
    "string": "text", "concat": "text", "split_name": "text", "html_to_text": "text", "truncate": "text",
    "email": "text", "phone": "text", "selection_key": "text",
    "date": "date", "datetime": "datetime", "integer": "integer", "float": "float", "money": "float",
    "boolean": "boolean",
}

#: destination field types a value kind may be written to
ACCEPTING_TYPES: dict[str, frozenset[str]] = {
    "text": frozenset({"char", "text", "html", "selection"}),
    "date": frozenset({"date", "datetime", "char", "text"}),
    "datetime": frozenset({"datetime", "date", "char", "text"}),
    "integer": frozenset({"integer", "float", "monetary", "char", "text"}),
    "float": frozenset({"float", "monetary", "char", "text"}),
    "boolean": frozenset({"boolean"}),
}

#: the transform to suggest for a destination field type
SUGGESTED_TRANSFORM = {
    "date": "'date'", "datetime": "'datetime'", "boolean": "'boolean'", "integer": "'integer'",
    "float": "'float' or 'money'", "monetary": "'money'", "char": "'strip' or 'string'",
    "text": "'strip' or 'html_to_text'", "html": "no transform", "selection": "a value map",
}


def _row_label(om: ObjectMap, row: Union[FieldRow, LookupRow], model: str) -> str:
    if isinstance(row, LookupRow):
        return f"object map {om.name!r}, lookup row {row.source!r} -> {model}.{row.target}"
    source = row.source if row.source is not None else (" + ".join(row.sources) if row.sources else "(default)")
    return f"object map {om.name!r}, field row {source!r} -> {model}.{row.target}"


def _near(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "text"


class _Checker:
    def __init__(self, spec: MapSpec, schema: TargetSchema):
        self.spec = spec
        self.schema = schema
        self.problems: list[str] = []
        self.custom: dict[str, dict[str, CustomField]] = {}
        for cf in spec.custom_fields:
            self.custom.setdefault(cf.model, {})[cf.name] = cf

    def field(self, model: str, name: str) -> Optional[FieldSpec]:
        cf = self.custom.get(model, {}).get(name)
        if cf is not None:
            return FieldSpec(type=cf.type, label=cf.label, relation=cf.relation, selection=tuple(cf.selection))
        return self.schema.field(model, name)

    def is_custom(self, model: str, name: str) -> bool:
        return name in self.custom.get(model, {})

    def target(self, label: str, model: str, name: str) -> Optional[FieldSpec]:
        spec = self.field(model, name)
        if spec is None:
            known = list(self.schema.fields(model)) + list(self.custom.get(model, {}))
            self.problems.append(f"{label}: {model} has no field {name!r}{_near(name, known)}; "
                                 f"declare it under custom_fields or pick an existing field")
            return None
        if (spec.readonly and (spec.computed or name in ORM_OWNED) and not self.is_custom(model, name)
                and name not in LOADER_WRITES_READONLY):
            self.problems.append(f"{label}: {model}.{name} is read-only in Odoo (computed or set by the "
                                 f"application); map the value to a custom field or drop the row")
            return None
        return spec

    # -- the whole spec --------------------------------------------------------------------
    def run(self) -> list[str]:
        self.structure()
        self.custom_fields()
        for om in self.spec.objects:
            if om.target_model not in self.schema:
                self.problems.append(
                    f"object map {om.name!r}: model {om.target_model!r} is not in the destination"
                    f"{_near(om.target_model, self.schema.models)}; install the app that provides it "
                    f"or choose another model")
                continue
            for row in om.fields:
                self.field_row(om, row)
            for row in om.lookups:
                self.lookup_row(om, row)
            for name, value in om.defaults.items():
                self.default(om, name, value)
        return self.problems

    def structure(self) -> None:
        """The checks of :class:`MapSpec` itself (two rows on one target, unknown
        transforms ...), again: a spec may have been changed after it was built."""
        try:
            MapSpec.model_validate(self.spec.model_dump())
        except ValidationError as exc:
            for err in exc.errors():
                msg = str(err.get("msg", ""))
                self.problems.append(msg.removeprefix("Value error, "))

    def custom_fields(self) -> None:
        for cf in self.spec.custom_fields:
            if cf.model not in self.schema:
                self.problems.append(f"custom field {cf.model}.{cf.name}: model {cf.model!r} is not in the "
                                     f"destination; declare the field on a model the map writes")
                continue
            existing = self.schema.field(cf.model, cf.name)
            if existing is not None and existing.type != cf.type:
                self.problems.append(
                    f"custom field {cf.model}.{cf.name} is declared as {cf.type} but the destination already "
                    f"has it as {existing.type}; rename the custom field or change its type to {existing.type}")
            if cf.relation and cf.relation not in self.schema:
                self.problems.append(f"custom field {cf.model}.{cf.name}: relation model {cf.relation!r} is not "
                                     f"in the destination")

    # -- rows ----------------------------------------------------------------------------------
    def field_row(self, om: ObjectMap, row: FieldRow) -> None:
        model = om.target_model
        label = _row_label(om, row, model)
        spec = self.target(label, model, row.target)
        if spec is None:
            return
        if spec.type in RELATIONAL_TYPES:
            self.problems.append(f"{label}: {model}.{row.target} is a {spec.type} field; "
                                 f"write it with a lookup row")
            return
        if row.value_map and row.value_map in self.spec.value_maps:
            vm = self.spec.value_maps[row.value_map]
            produced = list(vm.values.values()) + ([vm.default] if vm.default is not None else [])
            produced = [v for v in produced if v is not None]
            if spec.type == "selection":
                keys = set(spec.selection_keys)
                bad = sorted({str(v) for v in produced if str(v) not in keys})
                if bad:
                    self.problems.append(
                        f"{label}: value map {row.value_map!r} gives {', '.join(repr(b) for b in bad)}, "
                        f"which {'is not a key' if len(bad) == 1 else 'are not keys'} of the selection "
                        f"{model}.{row.target} ({', '.join(sorted(keys))}); use one of its keys")
                return
            kinds = {_value_kind(v) for v in produced}
            self._kinds_fit(label, model, row.target, spec, kinds, f"value map {row.value_map!r} gives")
            return
        out = TRANSFORM_OUTPUT.get(row.transform or "", None) if row.transform else None
        if row.transform is None and row.sources:
            out = "text"
        if out is not None:
            self._kinds_fit(label, model, row.target, spec, {out}, f"transform {row.transform or 'concat'!r} gives")
        if row.default is not None:
            self._kinds_fit(label, model, row.target, spec, {_value_kind(row.default)}, "the row default is")

    def _kinds_fit(self, label: str, model: str, target: str, spec: FieldSpec, kinds: set[str], what: str) -> None:
        for kind in sorted(kinds):
            accepting = ACCEPTING_TYPES.get(kind, frozenset())
            if spec.type in ("binary",) or spec.type in accepting:
                continue
            article = "an" if kind[0] in "aeiou" else "a"
            self.problems.append(
                f"{label}: {what} {article} {kind} value, which the {spec.type} field {model}.{target} "
                f"cannot hold; use {SUGGESTED_TRANSFORM.get(spec.type, 'a matching transform')} "
                f"or map it to another field")
            return

    def lookup_row(self, om: ObjectMap, row: LookupRow) -> None:
        model = om.target_model
        label = _row_label(om, row, model)
        spec = self.target(label, model, row.target)
        if spec is None:
            return
        if spec.type == "many2one_reference":
            # an id whose model another field names (mail.message.res_id): one record, any model
            if row.many:
                self.problems.append(f"{label}: {model}.{row.target} holds one record; set many to false")
            elif row.kind == "record" and not self._loaded(row.object):
                self.problems.append(f"{label}: no object map loads {row.object!r}, so its records cannot be "
                                     f"found; add a map for {row.object} or drop the row")
            return
        if spec.type not in RELATIONAL_TYPES:
            self.problems.append(f"{label}: {model}.{row.target} is a {spec.type} field, not a reference; "
                                 f"a lookup writes many2one or many2many fields, use a field row")
            return
        if spec.type == "one2many":
            self.problems.append(f"{label}: {model}.{row.target} is a one2many field, written from the other "
                                 f"side; map the child object with a lookup to this one")
            return
        if row.many and spec.type == "many2one":
            self.problems.append(f"{label}: a lookup with many: true cannot write the many2one field "
                                 f"{model}.{row.target}; set many to false or pick a many2many field")
            return
        if not row.many and spec.type == "many2many":
            self.problems.append(f"{label}: {model}.{row.target} is a many2many field; set many: true "
                                 f"on the lookup")
            return
        relation = spec.relation
        # a user lookup onto a partner field (a message's author) writes the user's partner;
        # in Dynamics 365 users are systemuser rows
        if row.kind == "user" and relation not in ("res.users", "res.partner", "systemuser"):
            self.problems.append(f"{label}: a user lookup needs a field pointing at res.users, but "
                                 f"{model}.{row.target} points at {relation}")
        elif row.kind == "email" and relation not in ("res.users", "res.partner", "systemuser"):
            self.problems.append(f"{label}: an email lookup finds users and partners, but "
                                 f"{model}.{row.target} points at {relation}")
        elif row.kind == "record":
            loading = self._loaded(row.object)
            if not loading:
                self.problems.append(f"{label}: no object map loads {row.object!r}, so its records cannot be "
                                     f"found; add a map for {row.object} or drop the row")
            elif not ({relation, *spec.relations} & {o.target_model for o in loading}):
                lands = ", ".join(sorted({o.target_model for o in loading}))
                self.problems.append(f"{label}: {row.object} records land on {lands}, but {model}.{row.target} "
                                     f"points at {relation}")
        elif row.kind == "xmlid" and row.value_map and row.value_map in self.spec.value_maps:
            vm = self.spec.value_maps[row.value_map]
            produced = list(vm.values.values()) + ([vm.default] if vm.default is not None else [])
            bad = sorted({str(v) for v in produced if v is not None
                          and (not isinstance(v, str) or v.count(".") != 1 or " " in v)})
            if bad:
                self.problems.append(f"{label}: value map {row.value_map!r} gives {', '.join(repr(b) for b in bad)}, "
                                     f"which {'is not an XML id' if len(bad) == 1 else 'are not XML ids'} "
                                     f"(module.name); use XML ids or a 'name' lookup")
            known = {r.xmlid for r in self.schema.known_records(relation or "") if r.xmlid}
            if known and not bad:
                unknown = sorted({str(v) for v in produced if v is not None and str(v) not in known})
                if unknown and relation in self.schema.records:
                    self.problems.append(
                        f"{label}: value map {row.value_map!r} gives {', '.join(repr(u) for u in unknown)}, "
                        f"which the destination does not have among its {relation} records "
                        f"({', '.join(sorted(known))}); create them first or map to existing ones")

    def _loaded(self, identity: Optional[str]) -> list[ObjectMap]:
        """Enabled maps whose records go by ``identity`` (their source object, or
        the ``identity`` a second map of the same object sets)."""
        return [o for o in self.spec.objects
                if o.enabled and (getattr(o, "identity", None) or o.source_object) == identity]

    def default(self, om: ObjectMap, name: str, value: Any) -> None:
        model = om.target_model
        label = f"object map {om.name!r}, default -> {model}.{name}"
        spec = self.target(label, model, name)
        if spec is None:
            return
        if spec.type in RELATIONAL_TYPES:
            self.problems.append(f"{label}: a default cannot set the {spec.type} field {model}.{name}; "
                                 f"use a lookup row with kind 'xmlid'")
        elif spec.type == "selection":
            if str(value) not in spec.selection_keys:
                self.problems.append(f"{label}: {value!r} is not a key of the selection {model}.{name} "
                                     f"({', '.join(spec.selection_keys)}); use one of its keys")
        elif value is not None:
            self._kinds_fit(label, model, name, spec, {_value_kind(value)}, "the default is")


def spec_problems(spec: MapSpec, schema: TargetSchema) -> list[str]:
    """Every reason the destination cannot take ``spec``, one message per row; empty when valid."""
    return _Checker(spec, schema).run()


def validate_spec(spec: MapSpec, schema: TargetSchema) -> None:
    """Raise :class:`MappingError` when ``spec`` does not fit ``schema``.

    Custom fields declared in the spec count as known fields of their model.
    With one problem the message is that problem; with several it counts them
    and lists each on its own line.
    """
    problems = spec_problems(spec, schema)
    if len(problems) == 1:
        raise MappingError(problems[0])
    if problems:
        raise MappingError(f"{len(problems)} rows of the map do not fit the destination:\n"
                           + "\n".join(f"- {p}" for p in problems))


# ---------------------------------------------------------------------------
# Pre-flight


@dataclass(frozen=True)
class Finding:
    """Something the admin should settle before the run."""

    level: Literal["error", "warning"]
    map_name: str
    message: str
    target: Optional[str] = None
    #: source values concerned (picklist values missing from a value map)
    values: tuple[str, ...] = field(default_factory=tuple)
    #: those of ``values`` the source field does not declare among its options,
    #: while it declares some (a picklist option deleted at the source)
    undeclared: tuple[str, ...] = field(default_factory=tuple)


def _written(om: ObjectMap) -> set[str]:
    return set(om.targets())


def preflight(spec: MapSpec, schema: TargetSchema, samples: Optional[dict[str, list[SourceRecord]]] = None,
              objects: Optional[Iterable[ObjectInfo]] = None) -> list[Finding]:
    """Pure checks of ``spec`` against what the source holds.

    - required destination fields (without a default) that no row writes;
    - value maps that miss source values seen in ``samples`` or declared as a
      field's selection in ``objects``;
    - source objects and paths the source does not report (when ``objects`` is given).
    """
    samples = samples or {}
    infos = {o.name: o for o in objects} if objects is not None else None
    findings: list[Finding] = []
    for om in spec.objects:
        if not om.enabled or om.target_model not in schema:
            continue
        model = om.target_model
        written = _written(om)
        for name, fspec in schema.iter_fields(model):
            if (not fspec.required or fspec.readonly or fspec.has_default or fspec.type == "one2many"
                    or name in written):
                continue
            if fspec.computed:
                findings.append(Finding(
                    "warning", om.name,
                    f"object map {om.name!r}: {model}.{name} ({fspec.label}) is required and no row writes it; "
                    f"Odoo computes it from other values, so check that the sample run fills it or map a "
                    f"source field to it", target=name))
            else:
                findings.append(Finding(
                    "error", om.name,
                    f"object map {om.name!r}: {model}.{name} ({fspec.label}) is required and no row writes it; "
                    f"map a source field to it or add a default", target=name))
        records = [r for r in samples.get(om.source_object, ()) if matches_filter(om, r)]
        info = infos.get(om.source_object) if infos is not None else None
        rows: list[Union[FieldRow, LookupRow]] = [*om.fields, *om.lookups]
        for row in rows:
            if not row.value_map or row.value_map not in spec.value_maps or not row.source:
                continue
            vm = spec.value_maps[row.value_map]
            seen: dict[str, None] = {}
            declared = info.field(row.source) if info is not None else None
            transform = TRANSFORMS.get(row.transform) if isinstance(row, FieldRow) and row.transform else None
            # declared picklist values belong to the whole object; a filtered map sees only some records
            options = {str(o) for o in declared.selection} if declared is not None else set()
            values = list(declared.selection) if declared is not None and not om.filter else []
            values += [get_path(rec.data, row.source) for rec in records]
            for v in values:
                if isinstance(v, dict):
                    v = v.get("id", v.get("name"))
                if transform is not None and v not in (None, ""):
                    try:
                        v = transform(v, **row.args)  # the value map sees what the transform hands on
                    except TransformError:
                        continue  # that record fails on the transform, with its own reason
                if v not in (None, ""):
                    seen.setdefault(str(v), None)
            # values the admin chose to land empty are settled
            missing = tuple(sorted(v for v in seen if not vm.lookup(v)[0] and vm.left_empty_reason(v) is None))
            if missing:
                outcome = ("those records fail" if vm.strict else "those records load without a value")
                findings.append(Finding(
                    "error" if vm.strict else "warning", om.name,
                    f"object map {om.name!r}: value map {row.value_map!r} has no entry for {len(missing)} "
                    f"value{'s' if len(missing) != 1 else ''} of {row.source} seen in the source; "
                    f"{outcome} unless you add them or set a default",
                    target=row.target, values=missing,
                    undeclared=tuple(v for v in missing if options and v not in options) if transform is None else ()))
        if infos is not None:
            if info is None:
                findings.append(Finding("error", om.name,
                                        f"object map {om.name!r}: the source reports no object "
                                        f"{om.source_object!r}; pick one of {', '.join(sorted(infos))}"))
                continue
            names = {f.name for f in info.fields}
            for row in rows:
                for path in ([row.source] if row.source else []) + list(getattr(row, "sources", []) or []):
                    if not _path_known(path, names):
                        findings.append(Finding(
                            "warning", om.name,
                            f"object map {om.name!r}: source path {path!r} is not among the fields "
                            f"{om.source_object} reports; its rows will find no value", target=row.target))
    return findings


def _path_known(path: str, names: set[str]) -> bool:
    if path in names:
        return True
    root = path.split(".", 1)[0].split("[", 1)[0]
    return any(n == root or n.startswith(root + ".") or n.startswith(root + "[") or path.startswith(n + ".")
               for n in names)
