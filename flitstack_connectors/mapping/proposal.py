"""What a map proposal is made of: the proposal a user confirms (:class:`Proposal`,
its objects and fields) and the working parts the proposal steps share
(placements, map plans, source fields, candidates)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, Field

from ..records import FieldInfo, ObjectInfo, SourceRecord
from .apply import matches_filter
from .spec import CustomField, FieldRow, LookupRow, MapSpec, ObjectMap, PricelistRule, ValueMap
from .target_schema import FieldSpec
from .value_profile import ValueProfile

#: a destination field is proposed when its score reaches this
ACCEPT = 0.6
#: an object lands on a model when its name scores this against the model's phrases
OBJECT_ACCEPT = 0.6
#: value-map entries need this similarity between source value and key/label
VALUE_ACCEPT = 0.75
#: fewer samples than this say nothing about a field being always empty
MIN_SAMPLES_FOR_EMPTY = 5
#: longest name PostgreSQL (and so Odoo) accepts for a column
MAX_FIELD_NAME = 63
#: sub-record keys never offered as paths
_ITEM_SKIP_KEYS = frozenset({"id", "etag", "created_at", "updated_at", "links", "self", "deleted_at"})
_ITEM_PRIMARY_KEYS = ("primary", "is_primary", "default", "main")
_ITEM_KIND_KEYS = ("phone_type", "email_type", "address_type", "type", "kind", "label", "name", "category")

Action = Literal["field", "lookup", "custom", "skip"]


class FieldProposal(BaseModel):
    """Where one source field (or several, for a composed value) should land."""

    #: source paths this proposal reads; one, except for composed values
    sources: list[str]
    action: Action
    #: the row for the map; ``None`` when skipped
    row: Optional[Union[FieldRow, LookupRow]] = None
    #: the custom field the row needs, for ``custom``
    custom_field: Optional[CustomField] = None
    #: name and content of the value map the row uses
    value_map_name: Optional[str] = None
    value_map: Optional[ValueMap] = None
    confidence: float
    reason: str
    #: other destination fields that scored, best first: ``[(field, score)]``
    alternatives: list[tuple[str, float]] = Field(default_factory=list)
    #: true when taken unchanged from a default map
    from_pack: bool = False

    @property
    def target(self) -> Optional[str]:
        return self.row.target if self.row is not None else None


class ObjectProposal(BaseModel):
    """One proposed object map (or an object left out, or users to resolve)."""

    name: str
    source_object: str
    target_model: Optional[str] = None
    #: the object's records are matched to existing users, not created
    resolve_users: bool = False
    filter: dict[str, Any] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    #: the name this map's records go by when a second map reads the same object
    identity: Optional[str] = None
    #: destination fields that identify an existing record to adopt (tags by name)
    match_on: list[str] = Field(default_factory=list)
    confidence: float = 0.0
    reason: str = ""
    fields: list[FieldProposal] = Field(default_factory=list)
    from_pack: bool = False
    #: what a default map sets on the object map beyond its rows, kept as it is
    #: (:data:`PACK_OPTIONS`: files, lines landing with their invoice, fallback maps, ...)
    options: dict[str, Any] = Field(default_factory=dict)


#: object map settings a proposal takes from the default map as they are
PACK_OPTIONS = frozenset({"cardinality", "group_by", "enabled", "unless_installed", "file", "key_prefix",
                          "with_parent"})


class Proposal(BaseModel):
    """Every source field of every object with its proposed landing place."""

    source_kind: str
    objects: list[ObjectProposal] = Field(default_factory=list)
    #: value maps kept verbatim from a default map
    pack_value_maps: dict[str, ValueMap] = Field(default_factory=dict)
    #: the default map's pricelist rules (rates), kept where their object maps are
    pack_pricelists: list[PricelistRule] = Field(default_factory=list)
    description: str = ""

    def object(self, name: str) -> ObjectProposal:
        for op in self.objects:
            if op.name == name:
                return op
        raise KeyError(name)

    def for_source(self, source_object: str) -> list[ObjectProposal]:
        return [op for op in self.objects if op.source_object == source_object]

    def pairs(self, *, include_custom: bool = True) -> set[tuple[str, str, str, str]]:
        """``(source object, source path, model, target field)`` of every proposed row."""
        out = set()
        for op in self.objects:
            if not op.target_model or op.resolve_users:
                continue
            for fp in op.fields:
                if fp.row is None or (fp.action == "custom" and not include_custom):
                    continue
                for path in fp.sources:
                    out.add((op.source_object, path, op.target_model, fp.row.target))
        return out

    def to_spec(self, *, min_confidence: float = 0.0, include_custom: bool = True,
                description: str = "") -> MapSpec:
        """The proposal as a map specification.

        Rows below ``min_confidence`` are left out, and so are new custom fields
        when ``include_custom`` is false.  Record lookups pointing at records
        that no map of the result loads are dropped with them.
        """
        custom: dict[tuple[str, str], CustomField] = {}
        value_maps: dict[str, ValueMap] = {}
        maps: list[ObjectMap] = []
        kept = [op for op in self.objects if op.target_model and not op.resolve_users]
        identities = {op.identity or op.source_object for op in kept}
        kept_names = {op.name for op in kept}
        for op in kept:
            extra: dict[str, Any] = {}
            if op.identity and "identity" in ObjectMap.model_fields:
                extra["identity"] = op.identity
            if op.match_on and "match_on" in ObjectMap.model_fields:
                extra["match_on"] = list(op.match_on)
            om = ObjectMap(name=op.name, source_object=op.source_object, target_model=op.target_model,
                           filter=dict(op.filter), defaults=dict(op.defaults),
                           after=[a for a in op.after if a in kept_names], description=op.reason,
                           **{k: v for k, v in op.options.items() if k in PACK_OPTIONS}, **extra)
            for fp in op.fields:
                if fp.row is None or fp.action == "skip":
                    continue
                if fp.confidence < min_confidence and not fp.from_pack:
                    continue
                if fp.action == "custom" and not include_custom:
                    continue
                row = fp.row
                if isinstance(row, LookupRow):
                    if row.kind == "record" and row.object not in identities:
                        continue
                    om.lookups.append(row.model_copy())
                else:
                    om.fields.append(row.model_copy())
                if fp.custom_field is not None:
                    custom.setdefault((fp.custom_field.model, fp.custom_field.name), fp.custom_field)
                if fp.value_map_name:
                    vm = fp.value_map or self.pack_value_maps.get(fp.value_map_name)
                    if vm is not None:
                        value_maps[fp.value_map_name] = vm
            maps.append(om)
        names = {om.name for om in maps}
        return MapSpec(source_kind=self.source_kind, objects=maps, value_maps=value_maps,
                       custom_fields=list(custom.values()),
                       pricelists=[r.model_copy() for r in self.pack_pricelists if set(r.from_maps) <= names],
                       description=description or self.description)


# ---------------------------------------------------------------------------
# Helpers


def custom_field_name(*parts: str) -> str:
    """An Odoo custom field name from ``parts``: ``x_`` + lower-case ``[a-z0-9_]``,
    at most 63 characters (a long name keeps a short hash of the whole so that
    two long names stay distinct)."""
    raw = "_".join(p for p in parts if p)
    body = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_") or "field"
    name = body if body.startswith("x_") else f"x_{body}"
    name = re.sub(r"_+", "_", name)
    if len(name) > MAX_FIELD_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name[: MAX_FIELD_NAME - 9].rstrip("_") + "_" + digest
    return name


def _fmt(score: float) -> str:
    return f"{min(score, 1.0):.2f}"


def _display(words: tuple[str, ...]) -> str:
    return " ".join(words)


def _filtered(records: list[SourceRecord], filter_: dict[str, Any]) -> list[SourceRecord]:
    if not filter_:
        return list(records)
    probe = ObjectMap(name="probe", source_object="probe", target_model="probe", filter=filter_)
    return [r for r in records if matches_filter(probe, r)]


@dataclass
class _Placement:
    model: Optional[str]
    confidence: float
    reason: str
    defaults: dict[str, Any] = field(default_factory=dict)
    resolve_users: bool = False
    match_on: list[str] = field(default_factory=list)


@dataclass
class _MapPlan:
    name: str
    obj: ObjectInfo
    model: str
    confidence: float
    reason: str
    #: "company" | "person" | "employee" | "companion" | None
    role: Optional[str] = None
    filter: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    identity: Optional[str] = None
    match_on: list[str] = field(default_factory=list)
    discriminator: Optional[str] = None
    parent_ref: Optional[str] = None
    companion: Optional[dict[str, Any]] = None


@dataclass
class _Candidate:
    score: float
    target: str
    spec: FieldSpec
    row: Union[FieldRow, LookupRow]
    reason: str
    value_map: Optional[ValueMap] = None


@dataclass
class _SourceField:
    info: FieldInfo
    path: str
    texts: list[tuple[str, ...]]
    kind: str
    profile: ValueProfile
    #: known picklist values (declared or sampled)
    values: list[str]
    order: int
    #: a path into a list of sub-records, offered only for existing fields
    derived: bool = False

    @property
    def leaf(self) -> tuple[str, ...]:
        return self.texts[0] if self.texts else ()


@dataclass
class _MapState:
    """What one map's proposal has decided so far."""

    result: dict[str, "FieldProposal"] = field(default_factory=dict)
    #: proposals reading sources that already have their own (titles, extra targets)
    extras: list["FieldProposal"] = field(default_factory=list)
    #: destination field -> what writes it
    taken: dict[str, str] = field(default_factory=dict)
    #: sources read by a composed title
    title_sources: set[str] = field(default_factory=set)

    def skip(self, src: _SourceField, reason: str, confidence: float = 0.9) -> None:
        self.result[src.path] = FieldProposal(sources=[src.path], action="skip", confidence=confidence,
                                              reason=reason)
