"""The map specification: how the objects of one source land in a destination.

A :class:`MapSpec` is plain data.  It round-trips through JSON, default maps
ship as JSON packs (``packs/*.json``), and the Odoo addon stores the confirmed
one with each run.  Validation that needs no destination happens here; checks
against a destination's fields live in :mod:`.validate`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import MappingError

Cardinality = Literal["1:1", "many:1", "1:many"]
CustomFieldType = Literal[
    "char", "text", "html", "integer", "float", "monetary", "date", "datetime",
    "boolean", "selection", "many2one",
]


class FieldRow(BaseModel):
    """One source value (or several, for ``concat``) written to one target field."""

    model_config = ConfigDict(extra="forbid")

    #: dotted path into the source record; ``a.b``, ``list[key=value].field``
    source: Optional[str] = None
    #: several paths, for transforms that combine values
    sources: list[str] = Field(default_factory=list)
    target: str
    #: a name from :data:`flitstack_connectors.mapping.transforms.TRANSFORMS`
    transform: Optional[str] = None
    args: dict[str, Any] = Field(default_factory=dict)
    #: name of a value map in :attr:`MapSpec.value_maps` applied after the transform
    value_map: Optional[str] = None
    default: Any = None
    required: bool = False
    #: proposal metadata, kept so that the admin sees why a row exists
    confidence: Optional[float] = None
    reason: Optional[str] = None


class LookupRow(BaseModel):
    """A reference written to a many2one (or many2many) target field."""

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    #: ``record``: another migrated record; ``user``: source staff resolved to a
    #: user; ``xmlid``/``name``: an existing destination record; ``email``: the
    #: user (or, for a partner field, the user's partner, else a partner) with
    #: the source value as email address
    kind: Literal["record", "user", "xmlid", "name", "email"] = "record"
    #: the referenced source object, for ``record`` lookups (or the ``identity``
    #: of the object map that wrote the referenced records)
    object: Optional[str] = None
    #: a value map turning the source value into the xmlid or name
    value_map: Optional[str] = None
    #: for ``record`` lookups: the object maps whose records it can point at, when only some
    #: of the maps writing ``object`` do (a person's company is one of the companies map,
    #: never a person); its batches then wait for those maps alone.  Empty: every map
    #: writing ``object``
    maps: list[str] = Field(default_factory=list)
    many: bool = False
    required: bool = False
    confidence: Optional[float] = None
    reason: Optional[str] = None


class ValueMap(BaseModel):
    """Source values to destination values (status -> stage, picklist -> key)."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict)
    #: used for a source value missing from ``values``; ``None`` leaves it unmapped
    default: Any = None
    #: an unmapped value with no default is an error on the record when strict
    strict: bool = True
    case_sensitive: bool = False
    #: source values the admin chose to land with the field empty rather than fail the
    #: record (a picklist option deleted at the source), each with the reason shown on
    #: the record's audit line and in the run's report
    left_empty: dict[str, str] = Field(default_factory=dict)

    def lookup(self, value: Any) -> tuple[bool, Any]:
        """``(found, mapped)`` for ``value``."""
        if value is None or value == "":
            return True, None
        key = str(value)
        if key in self.values:
            return True, self.values[key]
        if not self.case_sensitive:
            folded = {k.casefold(): v for k, v in self.values.items()}
            if key.casefold() in folded:
                return True, folded[key.casefold()]
        if self.default is not None:
            return True, self.default
        return False, None

    def left_empty_reason(self, value: Any) -> Optional[str]:
        """Why ``value`` (which :meth:`lookup` does not find) lands empty, when the
        admin chose so; None when it has no such entry."""
        if value is None or value == "" or not self.left_empty:
            return None
        key = str(value)
        if key in self.left_empty:
            return self.left_empty[key]
        if not self.case_sensitive:
            return {k.casefold(): v for k, v in self.left_empty.items()}.get(key.casefold())
        return None

    def left_empty_note(self, target: str, value: Any) -> Optional[str]:
        """The audit note of a record whose ``target`` lands empty for ``value``,
        or None.  The value is named: it is one the admin listed, a picklist
        option or a status, not free text."""
        reason = self.left_empty_reason(value)
        if reason is None:
            return None
        return f"{target}: source value «{value}» left empty: {reason}"


#: a Dataverse custom column: the publisher's customization prefix (2 to 8
#: letters or digits, starting with a letter), an underscore, then the name
DATAVERSE_CUSTOM_NAME = re.compile(r"^[a-z][a-z0-9]{1,7}_[a-z0-9_]+$")


class CustomField(BaseModel):
    """A custom field the map needs on the destination."""

    model_config = ConfigDict(extra="forbid")

    model: str
    name: str
    label: str
    type: CustomFieldType
    #: ``[[key, label], ...]`` for selection fields
    selection: list[tuple[str, str]] = Field(default_factory=list)
    #: comodel for many2one
    relation: Optional[str] = None
    help: Optional[str] = None

    @model_validator(mode="after")
    def _check(self) -> "CustomField":
        if not (self.name.startswith("x_") or DATAVERSE_CUSTOM_NAME.match(self.name)):
            raise ValueError(f"custom field {self.model}.{self.name}: the name must start with 'x_'")
        if self.type == "selection" and not self.selection:
            raise ValueError(f"custom field {self.model}.{self.name}: a selection field needs selection values")
        if self.type == "many2one" and not self.relation:
            raise ValueError(f"custom field {self.model}.{self.name}: a many2one field needs a relation model")
        return self


class WithParent(BaseModel):
    """Records that land inside the create of the record they belong to.

    A map's records that point, through the record lookup ``lookup``, at a record
    the same run creates are created with it, as commands of its one2many
    ``field`` (a bill's time entries as ``invoice_line_ids`` of its invoice): the
    destination builds the whole record once instead of once per batch of its
    lines.  Each of them keeps its own external id and audit line.  Records whose
    parent exists already (a re-run, a delta) load in their own batches, as any
    map's records do, and so do all of them when the map has no such lookup (its
    row was ignored)."""

    model_config = ConfigDict(extra="forbid")

    #: target of the record lookup that names the parent (``move_id``)
    lookup: str
    #: the parent model's one2many that takes the records (``invoice_line_ids``)
    field: str


class ObjectMap(BaseModel):
    """How the records of one source object (or a filtered part of it) land."""

    model_config = ConfigDict(extra="forbid")

    #: unique name of this map inside the spec (``clio_company``)
    name: str
    source_object: str
    target_model: str
    cardinality: Cardinality = "1:1"
    #: only records whose value at each path equals the given value, or
    #: differs from it when given as ``{"not": value}``
    filter: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldRow] = Field(default_factory=list)
    lookups: list[LookupRow] = Field(default_factory=list)
    #: constant values written on every record
    defaults: dict[str, Any] = Field(default_factory=dict)
    #: for ``many:1`` maps: the path whose value groups records into one target
    group_by: Optional[str] = None
    #: target fields that identify an existing destination record to adopt
    #: (a tag of the same name) instead of creating a second one
    match_on: list[str] = Field(default_factory=list)
    #: extra object maps that must load before this one
    after: list[str] = Field(default_factory=list)
    description: str = ""
    enabled: bool = True
    #: the name this map's records are known by in external ids and in record
    #: lookups (``LookupRow.object``); ``source_object`` when unset.  A second
    #: map of the same source records into another model needs its own
    #: (patients -> res.partner, and patients -> crm.lead as ``patient_files``).
    identity: Optional[str] = None
    #: a fallback map: it loads only where this destination model is missing (tasks as
    #: activities where Project is not installed); where the model exists, another map
    #: lands the records there and this one skips them
    unless_installed: Optional[str] = None
    #: the records are files: each source record carries its file (the first of
    #: ``SourceRecord.attachments``), which the destination streams from the source
    #: when the record loads (into ``ir.attachment`` for Odoo)
    file: bool = False
    #: Dynamics 365: the table's Clio id column holds this prefix before the source id, for a
    #: table that takes records of two source objects whose ids may coincide (Clio tasks and
    #: time entries both land on ``task``); empty for the others
    key_prefix: str = ""
    #: Odoo: land these records inside their parent's create when the run creates the
    #: parent (see :class:`WithParent`)
    with_parent: Optional[WithParent] = None

    @property
    def identity_name(self) -> str:
        return self.identity or self.source_object

    def targets(self) -> list[str]:
        return [r.target for r in self.fields] + [r.target for r in self.lookups] + list(self.defaults)


class PricelistRule(BaseModel):
    """Rates that land as pricelists, computed from lines the run loaded.

    A source's rate hierarchy (Clio: user default, activity category, client and
    matter rates) has no Odoo equivalent as data; what an invoice will need is
    the rate a client is charged.  At the end of a run, over the lines that the
    object maps in ``from_maps`` loaded, the most-used unit price (by number of
    lines; a tie goes to the higher price) becomes:

    - the fixed price of ``product`` on the pricelist ``pricelist_name`` (the
      firm's standard rate);
    - for every customer whose own most-used price differs from it, the fixed
      price on a pricelist of its own (``client_pricelist_name``, ``{partner}``
      being the customer's name), set as the customer's pricelist when
      ``assign_to_partner``.

    The whole hierarchy is kept in the source's rates blueprint.  Records are
    created, updated and rolled back like any migrated record (audit lines).
    """

    model_config = ConfigDict(extra="forbid")

    #: unique name; the records' external ids start with it
    name: str
    #: object maps whose loaded lines carry the rates used (their unit price)
    from_maps: list[str]
    #: the line's field holding the rate
    price_field: str = "price_unit"
    #: the line's path to its customer (a res.partner)
    partner_path: str = "move_id.partner_id"
    #: the service product the rates are prices of
    product: dict[str, Any] = Field(default_factory=lambda: {"name": "Professional services (hour)"})
    #: the external id of the product's unit of measure
    product_uom: str = "uom.product_uom_hour"
    pricelist_name: str = "Standard rates"
    client_pricelist_name: str = "{partner} rates"
    assign_to_partner: bool = True
    description: str = ""


class MapSpec(BaseModel):
    """A whole map: object maps, value maps and the custom fields they need."""

    model_config = ConfigDict(extra="forbid")

    source_kind: str
    destination: Literal["odoo", "dynamics"] = "odoo"
    version: int = 1
    objects: list[ObjectMap] = Field(default_factory=list)
    value_maps: dict[str, ValueMap] = Field(default_factory=dict)
    custom_fields: list[CustomField] = Field(default_factory=list)
    #: rates that land as pricelists at the end of a run (Odoo destination)
    pricelists: list[PricelistRule] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> "MapSpec":
        from .transforms import TRANSFORMS

        seen_maps: set[str] = set()
        for om in self.objects:
            if om.name in seen_maps:
                raise ValueError(f"object map {om.name!r} appears twice")
            seen_maps.add(om.name)
            seen_targets: dict[str, str] = {}
            rows = [(r.target, f"field row {r.source or r.sources} -> {r.target}") for r in om.fields]
            rows += [(r.target, f"lookup row {r.source} -> {r.target}") for r in om.lookups]
            rows += [(t, f"default -> {t}") for t in om.defaults]
            for target, label in rows:
                if target in seen_targets:
                    raise ValueError(
                        f"object map {om.name!r}: {label} writes {om.target_model}.{target}, "
                        f"which {seen_targets[target]} already writes; keep one of them")
                seen_targets[target] = label
            for r in om.fields:
                if r.transform and r.transform not in TRANSFORMS:
                    raise ValueError(
                        f"object map {om.name!r}, field row -> {r.target}: unknown transform "
                        f"{r.transform!r}; choose one of {', '.join(sorted(TRANSFORMS))}")
                if r.value_map and r.value_map not in self.value_maps:
                    raise ValueError(f"object map {om.name!r}, field row -> {r.target}: unknown value map {r.value_map!r}")
                if r.source is None and not r.sources and r.default is None:
                    raise ValueError(f"object map {om.name!r}, field row -> {r.target}: give a source path or a default")
            for r in om.lookups:
                if r.kind == "record" and not r.object:
                    raise ValueError(f"object map {om.name!r}, lookup row -> {r.target}: a record lookup names the source object it points at")
                if r.value_map and r.value_map not in self.value_maps:
                    raise ValueError(f"object map {om.name!r}, lookup row -> {r.target}: unknown value map {r.value_map!r}")
                for name in r.maps:
                    named = next((o for o in self.objects if o.name == name), None)
                    if r.kind != "record":
                        raise ValueError(f"object map {om.name!r}, lookup row -> {r.target}: only a record lookup "
                                         f"names the maps it points at; remove 'maps'")
                    if named is None:
                        raise ValueError(f"object map {om.name!r}, lookup row -> {r.target}: 'maps' names unknown "
                                         f"object map {name!r}")
                    if named.identity_name != r.object:
                        raise ValueError(f"object map {om.name!r}, lookup row -> {r.target}: object map {name!r} "
                                         f"writes {named.identity_name!r} records, not the {r.object!r} the lookup "
                                         f"points at; name maps of {r.object!r} in 'maps'")
            for dep in om.after:
                if dep not in {o.name for o in self.objects}:
                    raise ValueError(f"object map {om.name!r}: 'after' names unknown object map {dep!r}")
        by_identity: dict[str, list[ObjectMap]] = {}
        for om in self.objects:
            by_identity.setdefault(om.identity_name, []).append(om)
        for identity, maps in by_identity.items():
            if len(maps) > 1 and any(not om.filter for om in maps):
                names = ", ".join(repr(om.name) for om in maps)
                raise ValueError(
                    f"object maps {names} would give the same source records the same external id "
                    f"({identity}_<id>): give each map but one its own 'identity', or filters that "
                    f"split the records between them")
        names = {o.name for o in self.objects}
        for rule in self.pricelists:
            unknown = [m for m in rule.from_maps if m not in names]
            if unknown:
                raise ValueError(f"pricelist rule {rule.name!r}: 'from_maps' names unknown object maps "
                                 f"{', '.join(map(repr, unknown))}")
            if "{partner}" not in rule.client_pricelist_name:
                raise ValueError(f"pricelist rule {rule.name!r}: 'client_pricelist_name' must hold {{partner}}, "
                                 f"or every client's pricelist would have the same name")
        if len({r.name for r in self.pricelists}) != len(self.pricelists):
            raise ValueError("two pricelist rules have the same name")
        seen_cf: set[tuple[str, str]] = set()
        for cf in self.custom_fields:
            if self.destination == "odoo" and not cf.name.startswith("x_"):
                raise ValueError(f"custom field {cf.model}.{cf.name}: the name must start with 'x_'")
            if self.destination == "dynamics" and not DATAVERSE_CUSTOM_NAME.match(cf.name):
                raise ValueError(f"custom column {cf.model}.{cf.name}: the name must start with the publisher's "
                                 f"customization prefix and an underscore (new_...), in lower case")
            if (cf.model, cf.name) in seen_cf:
                raise ValueError(f"custom field {cf.model}.{cf.name} is declared twice")
            seen_cf.add((cf.model, cf.name))
        return self

    # -- access -----------------------------------------------------------
    def object_map(self, name: str) -> ObjectMap:
        for om in self.objects:
            if om.name == name:
                return om
        raise KeyError(name)

    def only(self, names) -> "MapSpec":
        """This spec with the object maps named in ``names`` alone, and the pricelist
        rules whose object maps all remain."""
        keep = set(names)
        data = self.model_dump(mode="json")
        data["objects"] = [om for om in data["objects"] if om["name"] in keep]
        data["pricelists"] = [r for r in data["pricelists"] if set(r["from_maps"]) <= keep]
        return MapSpec.from_dict(data)

    def maps_for(self, source_object: str) -> list[ObjectMap]:
        return [om for om in self.objects if om.source_object == source_object and om.enabled]

    # -- JSON ---------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_defaults=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "MapSpec":
        try:
            return cls.model_validate_json(text)
        except ValueError as exc:
            raise MappingError(f"Invalid map specification: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MapSpec":
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise MappingError(f"Invalid map specification: {exc}") from None


PACKS_DIR = Path(__file__).with_name("packs")


def load_pack(name: str) -> MapSpec:
    """A default map shipped with the package: ``clio_odoo``, ``cliniko_odoo`` ..."""
    path = PACKS_DIR / f"{name}.json"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in PACKS_DIR.glob("*.json")))
        raise MappingError(f"No default map named {name!r}; available: {available}")
    return MapSpec.from_json(path.read_text(encoding="utf-8"))


def available_packs() -> list[str]:
    return sorted(p.stem for p in PACKS_DIR.glob("*.json"))


def dump(spec: MapSpec) -> dict[str, Any]:
    return json.loads(spec.to_json())
