"""The fields of a destination, as the map checks and the proposal need them.

A :class:`TargetSchema` is ``{model: {field: FieldSpec}}`` plus a few known
records (CRM stages with their XML ids, partner titles ...).  It comes from
either

- a JSON snapshot shipped with the package (``schemas/odoo18_crm.json``: the
  models a CRM migration writes, as an Odoo 18 database with ``crm`` and
  ``sale_crm`` installed reports them), for work outside Odoo; or
- a live database: the Odoo addon calls
  ``TargetSchema.from_fields_get({model: env[model].fields_get() ...})``.

To refresh the snapshot, run in ``odoo-bin shell`` on such a database::

    models = TargetSchema.load_snapshot().models
    schema = TargetSchema.from_fields_get(
        {m: env[m].fields_get() for m in models},
        model_labels={m: env["ir.model"]._get(m).name for m in models},
        defaults={m: env[m].default_get(list(env[m]._fields)) for m in models})
    open("odoo18_crm.json", "w").write(schema.to_json())

``fields_get()`` marks computed and related fields with ``depends`` /
``related``; the shipped snapshot also counts ``_inherits`` links that Odoo
creates itself (``crm.team.alias_id``) as computed, and lists the stages,
partner titles and activity types of a new database as known records.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

from ..errors import MappingError

SCHEMAS_DIR = Path(__file__).with_name("schemas")

#: field types that hold references to other records
RELATIONAL_TYPES = frozenset({"many2one", "many2many", "one2many"})


@dataclass(frozen=True)
class FieldSpec:
    """One destination field: its type, label and, by type, relation or selection."""

    type: str
    label: str = ""
    relation: Optional[str] = None
    #: ``((key, label), ...)`` for selection fields
    selection: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    #: the model fills a value when none is given (``default_get``)
    has_default: bool = False
    #: Odoo computes the value (from other fields, or by creating a linked record)
    computed: bool = False
    #: a Dynamics 365 lookup that can point at several tables (a customer, a regarding
    #: object): every table it can point at (the keys of the snapshot's ``navigation``)
    relations: tuple[str, ...] = ()

    @property
    def relational(self) -> bool:
        return self.type in RELATIONAL_TYPES

    @property
    def selection_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _label in self.selection)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "label": self.label}
        if self.relation:
            out["relation"] = self.relation
        if self.selection:
            out["selection"] = [list(pair) for pair in self.selection]
        for flag in ("required", "readonly", "has_default", "computed"):
            if getattr(self, flag):
                out[flag] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FieldSpec":
        selection = data.get("selection") or ()
        if not isinstance(selection, (list, tuple)):
            # a selection computed by a method reports a string in some clients
            selection = ()
        return cls(
            type=str(data["type"]),
            label=str(data.get("label", data.get("string", "")) or ""),
            relation=data.get("relation") or None,
            selection=tuple((str(k), str(v)) for k, v in selection),
            required=bool(data.get("required")),
            readonly=bool(data.get("readonly")),
            has_default=bool(data.get("has_default")),
            computed=bool(data.get("computed") or data.get("depends") or data.get("related")
                          or data.get("compute")),
            relations=tuple(data.get("navigation") or ()),
        )


@dataclass(frozen=True)
class KnownRecord:
    """An existing destination record a lookup can point at (``crm.stage_lead1`` "New")."""

    name: str
    xmlid: Optional[str] = None


@dataclass
class TargetSchema:
    """The models and fields of a destination."""

    models: dict[str, dict[str, FieldSpec]] = field(default_factory=dict)
    #: model -> its human name ("Contact", "Lead/Opportunity")
    model_labels: dict[str, str] = field(default_factory=dict)
    #: model -> records that exist before any migration (stages, titles, activity types)
    records: dict[str, list[KnownRecord]] = field(default_factory=dict)
    description: str = ""

    # -- access -------------------------------------------------------------
    def __contains__(self, model: object) -> bool:
        return model in self.models

    def fields(self, model: str) -> dict[str, FieldSpec]:
        try:
            return self.models[model]
        except KeyError:
            raise MappingError(f"Model {model!r} is not in the destination schema") from None

    def field(self, model: str, name: str) -> Optional[FieldSpec]:
        return self.models.get(model, {}).get(name)

    def model_label(self, model: str) -> str:
        return self.model_labels.get(model, model)

    def iter_fields(self, model: str) -> Iterator[tuple[str, FieldSpec]]:
        return iter(sorted(self.models.get(model, {}).items()))

    def known_records(self, model: str) -> list[KnownRecord]:
        return list(self.records.get(model, []))

    def restricted_to(self, models: Iterable[str]) -> "TargetSchema":
        """A copy holding only ``models`` (those present)."""
        keep = [m for m in models if m in self.models]
        return TargetSchema(
            models={m: dict(self.models[m]) for m in keep},
            model_labels={m: self.model_labels[m] for m in keep if m in self.model_labels},
            records={m: list(r) for m, r in self.records.items()},
            description=self.description,
        )

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_fields_get(
        cls,
        fields_by_model: Mapping[str, Mapping[str, Mapping[str, Any]]],
        *,
        model_labels: Optional[Mapping[str, str]] = None,
        defaults: Optional[Mapping[str, Iterable[str]]] = None,
        records: Optional[Mapping[str, Iterable[Mapping[str, Any]]]] = None,
    ) -> "TargetSchema":
        """The schema from Odoo's ``fields_get()`` output, one dict per model.

        ``defaults`` names, per model, the fields that receive a default value
        (``default_get``); ``records`` lists known records as ``{"name", "xmlid"}``.
        """
        defaults = {m: set(names) for m, names in (defaults or {}).items()}
        models: dict[str, dict[str, FieldSpec]] = {}
        for model, fields_get in fields_by_model.items():
            specs: dict[str, FieldSpec] = {}
            for name, attrs in fields_get.items():
                if "type" not in attrs:
                    raise MappingError(f"fields_get output for {model}.{name} has no 'type'; "
                                       f"call fields_get() without an attributes filter or include 'type'")
                spec = FieldSpec.from_dict(attrs)
                if name in defaults.get(model, ()):
                    spec = dataclasses.replace(spec, has_default=True)
                specs[name] = spec
            models[model] = specs
        known = {
            m: [KnownRecord(name=str(r["name"]), xmlid=r.get("xmlid") or None) for r in recs]
            for m, recs in (records or {}).items()
        }
        return cls(models=models, model_labels=dict(model_labels or {}), records=known)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TargetSchema":
        try:
            models = {
                model: {name: FieldSpec.from_dict(attrs) for name, attrs in body["fields"].items()}
                for model, body in data["models"].items()
            }
            labels = {model: body.get("label", "") for model, body in data["models"].items()}
            records = {
                m: [KnownRecord(name=r["name"], xmlid=r.get("xmlid")) for r in recs]
                for m, recs in data.get("records", {}).items()
            }
        except (KeyError, TypeError, AttributeError) as exc:
            raise MappingError(f"Destination schema is malformed (missing {exc}); "
                               f"regenerate it from fields_get()") from None
        return cls(models=models, model_labels=labels, records=records,
                   description=str(data.get("description", "")))

    @classmethod
    def from_json(cls, text: str | bytes) -> "TargetSchema":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MappingError(f"Destination schema is not valid JSON ({exc.__class__.__name__}); "
                               f"regenerate it from fields_get()") from None
        return cls.from_dict(data)

    @classmethod
    def load_snapshot(cls, name: str = "odoo18_crm") -> "TargetSchema":
        """A schema snapshot shipped with the package (``schemas/<name>.json``)."""
        path = SCHEMAS_DIR / f"{name}.json"
        if not path.exists():
            available = ", ".join(sorted(p.stem for p in SCHEMAS_DIR.glob("*.json")))
            raise MappingError(f"No destination schema named {name!r}; available: {available}")
        return cls.from_json(path.read_text(encoding="utf-8"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "models": {
                model: {
                    "label": self.model_labels.get(model, ""),
                    "fields": {name: spec.to_dict() for name, spec in sorted(fields.items())},
                }
                for model, fields in sorted(self.models.items())
            },
            "records": {
                model: [{"name": r.name, "xmlid": r.xmlid} for r in recs]
                for model, recs in sorted(self.records.items())
            },
        }

    def to_json(self) -> str:
        """JSON with one field per line, so that a refreshed snapshot diffs cleanly."""
        data = self.to_dict()
        lines = ["{", f'  "description": {json.dumps(data["description"])},', '  "models": {']
        model_items = list(data["models"].items())
        for mi, (model, body) in enumerate(model_items):
            lines.append(f"    {json.dumps(model)}: {{")
            lines.append(f'      "label": {json.dumps(body["label"])},')
            lines.append('      "fields": {')
            field_items = list(body["fields"].items())
            for fi, (name, spec) in enumerate(field_items):
                comma = "," if fi < len(field_items) - 1 else ""
                lines.append(f"        {json.dumps(name)}: {json.dumps(spec, ensure_ascii=False)}{comma}")
            lines.append("      }")
            lines.append("    }" + ("," if mi < len(model_items) - 1 else ""))
        lines.append("  },")
        lines.append(f'  "records": {json.dumps(data["records"], ensure_ascii=False, sort_keys=True)}')
        lines.append("}")
        return "\n".join(lines) + "\n"
