"""Propose a map from a source's objects to a destination's fields.

``propose_map`` reads what a source holds (its :class:`ObjectInfo` list, and
sampled records when there are some) and the destination's fields, and
proposes, for every source field, where it should land and why:

1. Objects: each source object goes to the model whose vocabulary phrases
   its name and label match best (patients -> res.partner, matters ->
   crm.lead, practice areas and appointment types -> crm.tag, practitioners
   -> existing users resolved by email).  Objects nothing fits stay unmapped.
2. Maps: an object landing on res.partner with a company/person
   discriminator (Clio's ``type``) becomes a map of companies and one of
   people; people who belong to a company get their own map, because Odoo
   keeps a contact's address equal to its company's.  Objects named in the
   vocabulary's ``companions`` get a second map (a patient-file lead next to
   each patient's partner).
3. Fields with nothing to migrate are skipped with their reason (the source
   id, which becomes the external id; API version tags; values empty in
   every sample).  Lists of sub-records seen in samples (phone numbers) are
   offered as paths into them (``patient_phone_numbers[phone_type=Mobile].number``).
4. Composed values: first/middle/last names into the person's name; extra
   address lines into street2; a required title (``crm.lead.name``) from the
   record's number or type and its description or client.
5. Every other field is scored against every writable destination field:
   name and label similarity after normalisation and domain synonyms
   (:mod:`.vocabulary`), field type compatibility, and what sampled values
   look like (:mod:`.value_profile`).  References to other source objects are
   scored against the fields pointing at the model that object lands on.
6. The best pairs are taken greedily, one source per destination field per
   map.  A status mapped onto stages also archives lost values (cancelled,
   written off: ``active`` false) and, when several values share a stage,
   keeps the exact value in a custom selection field.
7. What remains becomes a new custom field ``x_<object>_<field>`` with a type
   inferred from the source type and samples (picklists become selections
   with their options, and a value map to the keys).

The result is a :class:`Proposal`; ``proposal.to_spec()`` gives the
:class:`MapSpec` to confirm.  The whole process is deterministic and
offline: same inputs, same proposal.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, Field

from ..records import FieldInfo, ObjectInfo, SourceRecord
from .apply import get_path, matches_filter
from .spec import CustomField, FieldRow, LookupRow, MapSpec, ObjectMap, ValueMap
from .target_schema import FieldSpec, TargetSchema
from .transforms import selection_key
from .value_profile import ValueProfile
from .vocabulary import Match, Vocabulary, default_vocabulary, path_words, singular, split_words

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


class Proposal(BaseModel):
    """Every source field of every object with its proposed landing place."""

    source_kind: str
    objects: list[ObjectProposal] = Field(default_factory=list)
    #: value maps kept verbatim from a default map
    pack_value_maps: dict[str, ValueMap] = Field(default_factory=dict)
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
                           after=[a for a in op.after if a in kept_names], description=op.reason, **extra)
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
        return MapSpec(source_kind=self.source_kind, objects=maps, value_maps=value_maps,
                       custom_fields=list(custom.values()),
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


# ---------------------------------------------------------------------------
# The proposer


class _Proposer:
    def __init__(self, objects: list[ObjectInfo], schema: TargetSchema,
                 samples: Optional[dict[str, list[SourceRecord]]], pack: Optional[MapSpec],
                 source_kind: str, vocab: Vocabulary):
        self.objects = list(objects)
        self.by_name = {o.name: o for o in self.objects}
        self.schema = schema
        self.samples = samples or {}
        self.pack = pack
        self.source_kind = source_kind
        self.vocab = vocab
        self._target_texts: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}

    # -- 1. objects --------------------------------------------------------------
    def place(self, obj: ObjectInfo) -> _Placement:
        override = self.vocab.data.get("source_objects", {}).get(self.source_kind, {}).get(obj.name)
        if override and override.get("model") in self.schema:
            return _Placement(override["model"], 1.0, f"{self.source_kind} {obj.name}: {override.get('why', '')}",
                              defaults=dict(override.get("defaults", {})),
                              match_on=list(override.get("match_on", ())))
        texts = [t for t in (self.vocab.words(obj.name), self.vocab.words(obj.label or "")) if t]
        best: Optional[tuple[float, dict[str, Any], Match, tuple[str, ...], tuple[str, ...]]] = None
        for entry in self.vocab.object_models:
            model = entry["model"]
            if model not in self.schema:
                continue
            for text in texts:
                for phrase in self.vocab.phrase_words(entry.get("phrases", ())):
                    m = self.vocab.similarity(text, phrase)
                    if best is None or m.score > best[0]:
                        best = (m.score, entry, m, text, phrase)
        if best is None or best[0] < OBJECT_ACCEPT:
            return _Placement(None, 1.0 - (best[0] if best else 0.0),
                              "no destination model fits this object; it is not migrated")
        score, entry, m, text, phrase = best
        reason = f"object name '{_display(text)}' ~ '{_display(phrase)}' ({_fmt(score)}, {m.kind})"
        if entry.get("resolve_only"):
            return _Placement(entry["model"], score,
                              reason + "; staff are matched to existing Odoo users by email, not created",
                              resolve_users=True)
        return _Placement(entry["model"], score, reason, defaults=dict(entry.get("defaults", {})),
                          match_on=list(entry.get("match_on", ())))

    def map_name(self, obj: ObjectInfo, suffix: str = "") -> str:
        base = re.sub(r"[^a-z0-9]+", "_", f"{self.source_kind}_{singular(obj.name.lower())}").strip("_")
        return f"{base}_{suffix}" if suffix else base

    # -- 2. maps -------------------------------------------------------------------
    def plans(self, obj: ObjectInfo, placement: _Placement) -> list[_MapPlan]:
        model = placement.model
        assert model is not None
        base = _MapPlan(self.map_name(obj), obj, model, placement.confidence, placement.reason,
                        defaults=dict(placement.defaults), match_on=list(placement.match_on))
        plans = [base]
        split = self.vocab.partner_split
        found = self._discriminator(obj) if model == split.get("model") else None
        if found:
            path, company_value, person_value = found
            company = _MapPlan(self.map_name(obj, "company"), obj, model, placement.confidence,
                               f"{obj.name} whose {path} is {company_value!r} become company partners; "
                               + placement.reason, role="company", filter={path: company_value},
                               defaults={**placement.defaults, "is_company": True}, discriminator=path)
            person = _MapPlan(self.map_name(obj, "person"), obj, model, placement.confidence,
                              f"{obj.name} whose {path} is {person_value!r} become individual partners; "
                              + placement.reason, role="person", filter={path: person_value},
                              defaults={**placement.defaults, "is_company": False}, discriminator=path)
            plans = [company, person]
            parent = next((f for f in obj.fields if f.relation == obj.name
                           and f.type in ("many2one", "json", "char", "integer")), None)
            rule = split.get("with_parent")
            if parent is not None and rule:
                person.filter[parent.name] = None
                person.parent_ref = parent.name
                person.reason = (f"{obj.name} whose {path} is {person_value!r} and who belong to no company "
                                 f"become individual partners with their own address; " + placement.reason)
                employee = _MapPlan(
                    self.map_name(obj, "employee"), obj, model, placement.confidence,
                    f"{obj.name} whose {path} is {person_value!r} and who belong to a company become its "
                    f"contacts; {rule.get('why', '')}; " + placement.reason,
                    role="employee", filter={path: person_value, parent.name: {"not": None}},
                    defaults={**placement.defaults, "is_company": False, **rule.get("defaults", {})},
                    after=[company.name], discriminator=path, parent_ref=parent.name)
                plans.append(employee)
            else:
                person.after = [company.name]
        for companion in self.vocab.data.get("companions", ()):
            if companion.get("model") not in self.schema or model == companion.get("model"):
                continue
            phrases = self.vocab.phrase_words(companion.get("objects", ()))
            if self.vocab.words(obj.name) not in phrases and self.vocab.words(obj.label or "") not in phrases:
                continue
            one = singular(obj.name.lower())
            plans.append(_MapPlan(
                self.map_name(obj, companion.get("suffix", "extra")), obj, companion["model"],
                placement.confidence, f"{companion.get('why', '')}; " + placement.reason, role="companion",
                defaults=dict(companion.get("defaults", {})),
                identity=f"{one}_{companion.get('identity', 'extra')}", companion=companion))
        return plans

    def _discriminator(self, obj: ObjectInfo) -> Optional[tuple[str, Any, Any]]:
        split = self.vocab.partner_split
        names = self.vocab.phrase_words(split.get("discriminators", ()))
        company_words = self.vocab.phrase_words(split.get("company_values", ()))
        person_words = self.vocab.phrase_words(split.get("person_values", ()))
        for f in obj.fields:
            if self.vocab.words(f.name) not in names:
                continue
            values: list[Any] = list(f.selection)
            for rec in self.samples.get(obj.name, ()):
                v = get_path(rec.data, f.name)
                if v not in (None, "") and v not in values:
                    values.append(v)
            company = next((v for v in values if self.vocab.words(str(v)) in company_words), None)
            person = next((v for v in values if self.vocab.words(str(v)) in person_words), None)
            if company is not None and person is not None:
                return f.name, company, person
        return None

    # -- source and target fields ----------------------------------------------------------
    def target_texts(self, model: str, name: str, spec: FieldSpec) -> list[tuple[str, tuple[str, ...]]]:
        key = (model, name)
        cached = self._target_texts.get(key)
        if cached is None:
            words = split_words(name)
            while len(words) > 1 and words[-1] in ("id", "ids"):
                words.pop()
            texts = [("name", self.vocab.words(words)), ("label", self.vocab.words(spec.label or name))]
            for hint in self.vocab.field_hints.get(model, {}).get(name, ()):
                texts.append(("hint", self.vocab.words(hint)))
            texts.extend(("relation", t) for t in self.relation_texts(words, spec))
            cached = self._target_texts[key] = [(k, t) for k, t in texts if t]
        return cached

    def relation_texts(self, words: list[str], spec: FieldSpec) -> list[tuple[str, ...]]:
        """Names of a many2one field taken from the model it points at: the
        phrases objects landing on that model go by, alone and after the
        field's own words (crm.lead.team_id -> "pipeline"; res.partner.parent_id
        -> "parent account", "parent company")."""
        if spec.type != "many2one" or not spec.relation:
            return []
        own = self.vocab.words(words)
        out: list[tuple[str, ...]] = []
        for entry in self.vocab.object_models:
            if entry.get("model") != spec.relation:
                continue
            for phrase in self.vocab.phrase_words(entry.get("phrases", ())):
                for text in (phrase, tuple(dict.fromkeys(own + phrase))):
                    if text not in out:
                        out.append(text)
        return out

    def name_match(self, src: _SourceField, model: str, name: str, spec: FieldSpec
                   ) -> tuple[Match, tuple[str, ...], str, str]:
        """The best match of the source's names with the field's, the source
        words and target name that gave it, and what kind of target name it
        was (name, label, hint, relation)."""
        best: tuple[Match, tuple[str, ...], str, str] = (Match(0.0, "none"), (), "", "")
        for s_text in src.texts:
            for kind, t_text in self.target_texts(model, name, spec):
                m = self.vocab.similarity(s_text, t_text)
                if kind in ("hint", "relation") and m.kind not in ("exact", "synonym"):
                    continue  # a hint is another name for the field, not a word to share
                # on a tie, naming the model pointed at says most (it allows a lookup by name)
                if m.score > best[0].score or (kind == "relation" and m.score == best[0].score > 0
                                               and best[3] != "relation"):
                    if kind == "relation":
                        shown = f"{name} (points at {spec.relation}, '{_display(t_text)}')"
                    else:
                        shown = {"label": spec.label or name, "name": name}.get(
                            kind, f"{name} (as '{_display(t_text)}')")
                    best = (m, s_text, shown, kind)
        return best

    def candidate_fields(self, model: str) -> list[tuple[str, FieldSpec]]:
        out = []
        for name, spec in self.schema.iter_fields(model):
            if spec.type in ("one2many", "binary", "properties", "properties_definition", "json",
                             "many2one_reference", "reference"):
                continue
            if name in self.vocab.writable_readonly:
                out.append((name, spec))
                continue
            if spec.readonly or self.vocab.excluded_target(name):
                continue
            out.append((name, spec))
        return out

    def guess_relation(self, f: FieldInfo) -> FieldInfo:
        """A reference field that does not say what it points at (file exports:
        ``patient_id``) points at the object its name names."""
        if f.relation or f.type not in ("many2one", "many2many"):
            return f
        words = split_words(re.sub(r"\[[^\]]*\]", "", f.name))
        while len(words) > 1 and words[-1] in ("id", "ids"):
            words.pop()
        want = tuple(singular(w) for w in words)
        for other in self.objects:
            if tuple(singular(w) for w in split_words(other.name)) == want:
                return f.model_copy(update={"relation": other.name})
        return f

    def source_field(self, obj: ObjectInfo, f: FieldInfo, order: int, records: list[SourceRecord],
                     texts: Optional[list[tuple[str, ...]]] = None, derived: bool = False) -> _SourceField:
        f = self.guess_relation(f)
        path = f.name
        profile = ValueProfile.of(get_path(r.data, path) for r in records)
        if texts is None:
            if f.custom_id:
                texts = [self.vocab.words(f.label or path)]
            else:
                texts = [t for t in (self.vocab.words(path_words(path)), self.vocab.words(f.label or "")) if t]
                object_words = self.vocab.words(obj.name)
                for raw in dict.fromkeys(x for x in (" ".join(path_words(path)) if "/" not in path else path,
                                                     f.label) if x):
                    texts.extend(v for v in self.vocab.header_variants(raw, object_words) if v not in texts)
        kind = f.type
        sampled = profile.kind
        if kind == "char" and sampled:
            kind = {"url": "char", "text": "text", "integer": "digits"}.get(sampled, sampled)
        values = [str(v) for v in f.selection] or (profile.distinct if profile.picklist else [])
        return _SourceField(f, path, texts, kind, profile, values, order, derived)

    def item_fields(self, obj: ObjectInfo, f: FieldInfo, order: int, records: list[SourceRecord]
                    ) -> list[_SourceField]:
        """Paths into a list of sub-records seen in samples: the primary (or first)
        item's values, and items of a kind the vocabulary knows (``Mobile``)."""
        items = []
        for rec in records[:200]:
            value = get_path(rec.data, f.name)
            if isinstance(value, list):
                items.extend(x for x in value if isinstance(x, dict))
        if not items:
            return []
        keys: dict[str, None] = {}
        for item in items:
            for k, v in item.items():
                if isinstance(v, (str, int, float, bool)) or v is None:
                    keys.setdefault(k, None)
        primary = next((k for k in _ITEM_PRIMARY_KEYS if k in keys
                        and all(isinstance(i.get(k), bool) or i.get(k) is None for i in items)), None)
        kind_key, kinds = None, []
        for k in _ITEM_KIND_KEYS:
            if k in keys and k != primary:
                seen = list(dict.fromkeys(str(i[k]) for i in items if isinstance(i.get(k), str) and i.get(k)))
                if 1 <= len(seen) <= 6:
                    kind_key, kinds = k, seen
                    break
        value_keys = [k for k in keys if k not in _ITEM_SKIP_KEYS and k not in (primary, kind_key)]
        container = [w for w in self.vocab.words(f.name) if w not in set(self.vocab.words(obj.name))]
        base = f"{f.name}[{primary}=True]" if primary else f"{f.name}[0]"
        out: list[_SourceField] = []
        for k in value_keys:
            leaf = self.vocab.words(k)
            words = tuple(dict.fromkeys(container + list(leaf)))
            label = f"{f.label or f.name}: {k.replace('_', ' ')}"
            out.append(self.source_field(obj, FieldInfo(name=f"{base}.{k}", label=label), order, records,
                                         texts=[words], derived=True))
            for kind in kinds:
                kind_words = self.vocab.words(kind)
                if not self.vocab.concepts(kind_words):
                    continue
                words = tuple(dict.fromkeys(list(kind_words) + list(leaf)))
                out.append(self.source_field(
                    obj, FieldInfo(name=f"{f.name}[{kind_key}={kind}].{k}", label=f"{label} ({kind})"),
                    order, records, texts=[words], derived=True))
        return out

    # -- value maps ----------------------------------------------------------------------
    def selection_value_map(self, values: list[str], spec: FieldSpec) -> tuple[dict[str, str], list[str]]:
        mapped: dict[str, str] = {}
        missing: list[str] = []
        for v in values:
            vw = self.vocab.words(v)
            best, best_key = 0.0, None
            for key, label in spec.selection:
                for text in (self.vocab.words(key), self.vocab.words(label)):
                    s = self.vocab.similarity(vw, text).score
                    if s > best:
                        best, best_key = s, key
            if best_key is not None and best >= VALUE_ACCEPT:
                mapped[v] = best_key
            else:
                missing.append(v)
        return mapped, missing

    def record_value_map(self, values: list[str], model: str) -> tuple[dict[str, str], list[str], str]:
        """Source values -> known destination records (XML id when all have one, else name)."""
        records = self.schema.known_records(model)
        phrases = self.vocab.record_values.get(model, {})
        use_xmlid = bool(records) and all(r.xmlid for r in records)
        mapped: dict[str, str] = {}
        missing: list[str] = []
        for v in values:
            vw = self.vocab.words(v)
            best, best_rec = 0.0, None
            for rec in records:
                texts = [self.vocab.words(rec.name)] + self.vocab.phrase_words(phrases.get(rec.xmlid or "", ()))
                for text in texts:
                    s = self.vocab.similarity(vw, text).score
                    if s > best:
                        best, best_rec = s, rec
            if best_rec is not None and best >= VALUE_ACCEPT:
                mapped[v] = (best_rec.xmlid if use_xmlid else best_rec.name)  # type: ignore[assignment]
            else:
                missing.append(v)
        return mapped, missing, ("xmlid" if use_xmlid else "name")

    def lost(self, value: str) -> bool:
        return self.vocab.words(value) in self.vocab.phrase_words(self.vocab.data.get("lost_values", ()))

    # -- scoring -------------------------------------------------------------------------
    def reference_candidates(self, plan: _MapPlan, src: _SourceField, fields: list[tuple[str, FieldSpec]],
                             placements: dict[str, _Placement]) -> tuple[list[_Candidate], str]:
        f = src.info
        ref = placements.get(f.relation or "")
        if ref is None or ref.model is None:
            return [], f"points at {f.relation or 'another object'}, which is not migrated"
        want, kind = ("res.users", "user") if ref.resolve_users else (ref.model, "record")
        many_source = f.type in ("many2many", "one2many")
        pointing = [(n, s) for n, s in fields if s.type in ("many2one", "many2many") and s.relation == want
                    and not (many_source and s.type == "many2one")]
        out = []
        for name, spec in pointing:
            m, s_text, t_label, _kind = self.name_match(src, plan.model, name, spec)
            score = 0.7 + 0.3 * m.score + (0.1 if len(pointing) == 1 else 0.0)
            many = spec.type == "many2many"
            if many and not many_source:
                score *= 0.95
            what = "staff resolved to users" if kind == "user" else f"{f.relation} land on {want}"
            reason = (f"references {f.relation} ({what}); '{_display(s_text)}' ~ '{t_label}' "
                      f"({_fmt(m.score)}, {m.kind})")
            if len(pointing) == 1:
                reason += f"; the only {plan.model} field pointing at {want}"
            row = LookupRow(source=src.path, target=name, kind=kind, object=f.relation, many=many,
                            required=spec.required, confidence=round(min(score, 1.0), 2), reason=reason)
            out.append(_Candidate(score, name, spec, row, reason))
        return out, f"no {plan.model} field points at {want}"

    def scalar_candidates(self, plan: _MapPlan, src: _SourceField, fields: list[tuple[str, FieldSpec]],
                          produced_models: set[str]) -> list[_Candidate]:
        table = self.vocab.type_compatibility
        compat_table = table.get(src.kind) or table.get("char", {})
        out = []
        for name, spec in fields:
            if spec.type == "many2many" and spec.relation not in self.vocab.name_lookup_models:
                continue
            m, s_text, t_label, t_kind = self.name_match(src, plan.model, name, spec)
            known_values = src.values
            if m.score < 0.45:
                # the name says little; values naming existing records may say more
                known_values = self.known_record_values(src, spec)
                if not known_values:
                    continue
                m, s_text, t_label, t_kind = Match(0.55, "values"), src.leaf, spec.label or name, "values"
            compat = compat_table.get(spec.type, 0.0)
            lookup_kind: Optional[str] = None
            notes: list[str] = []
            value_map: Optional[ValueMap] = None
            by_relation = t_kind == "relation"
            if spec.type in ("many2one", "many2many"):
                lookup_kind = "name"
                if spec.relation == "res.users":
                    compat, lookup_kind = self.user_compat(src, compat, notes), "user"
                elif spec.relation in produced_models:
                    if by_relation and m.kind == "exact" and self.names_records(src):
                        # "Parent Account": records of the same export, named
                        compat = min(compat, 0.75)
                        notes.append(f"values name {spec.relation} records, looked up by name "
                                     f"(load the records they name first)")
                    else:
                        compat = min(compat, 0.3)
                elif not (spec.relation in self.vocab.name_lookup_models
                          or self.schema.known_records(spec.relation or "")):
                    if by_relation and self.names_records(src):
                        compat = min(compat, 0.8)
                        notes.append(f"values name {spec.relation} records, looked up by name")
                    else:
                        compat = min(compat, 0.3)
            if compat <= 0:
                continue
            score = m.score * compat
            if src.profile.empty and src.profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
                score *= 0.7  # a column empty in every sample should not win a contested field
            concepts = (self.vocab.concepts(self.vocab.words(spec.label or name))
                        | self.vocab.concepts(self.vocab.words(name)))
            score = self._sample_evidence(src, spec, concepts, score, notes)
            transform, args = self.transform_for(src, spec, concepts)
            if spec.type == "selection" and src.values:
                mapped, _missing = self.selection_value_map(src.values, spec)
                if not mapped:
                    score *= 0.6
                    notes.append(f"none of {len(src.values)} source values matches a selection key")
                else:
                    score += 0.05 * len(mapped) / len(src.values)
                    notes.append(f"{len(mapped)}/{len(src.values)} source values match selection keys")
                    value_map = ValueMap(values=mapped)
                    transform, args = None, {}
            elif spec.type == "selection" and src.kind != "selection":
                score *= 0.8  # free text into a fixed list: only with the keys' own spelling
                transform, args = "selection_key", {}
            if lookup_kind == "name" and known_values and self.schema.known_records(spec.relation or ""):
                mapped, missing, kind = self.record_value_map(known_values, spec.relation or "")
                if mapped:
                    lookup_kind = kind
                    value_map = ValueMap(values=mapped)
                    # values naming existing records are strong evidence (Mr/Dr -> titles)
                    score += 0.2 * len(mapped) / len(known_values)
                    notes.append(f"{len(mapped)}/{len(known_values)} source values match existing "
                                 f"{spec.relation} records" + (f"; {len(missing)} need a choice" if missing else ""))
                else:
                    # a header naming the model outright still points there (Pipeline -> team_id)
                    score *= 0.8 if by_relation and m.kind == "exact" else 0.7
                    notes.append(f"no source value matches an existing {spec.relation} record")
            reason = f"name match '{_display(s_text)}' ~ '{t_label}' ({_fmt(m.score)}, {m.kind})"
            if compat < 1.0:
                reason += f"; {src.kind} into {spec.type} ({_fmt(compat)})"
            if notes:
                reason += "; " + ", ".join(notes)
            confidence = round(min(score, 1.0), 2)
            row: Union[FieldRow, LookupRow]
            if lookup_kind:
                row = LookupRow(source=src.path, target=name, kind=lookup_kind, many=spec.type == "many2many",
                                required=spec.required, confidence=confidence, reason=reason)
            else:
                row = FieldRow(source=src.path, target=name, transform=transform, args=args,
                               required=spec.required, confidence=confidence, reason=reason)
            out.append(_Candidate(score, name, spec, row, reason, value_map))
        return out

    def _sample_evidence(self, src: _SourceField, spec: FieldSpec, concepts: frozenset[str], score: float,
                         notes: list[str]) -> float:
        profile = src.profile
        if profile.empty and profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
            notes.append(f"empty in all {profile.sampled} sampled records")
        if not profile.non_empty:
            return score
        sampled = profile.kind
        if "@email" in concepts and spec.type == "char":
            if sampled == "email":
                notes.append(f"sampled values look like emails ({profile.kinds.get('email', 0)}/{profile.non_empty})")
                return score + 0.05
            notes.append("sampled values are not emails")
            return score * 0.6
        if concepts & {"@phone", "@mobile"} and spec.type == "char":
            if sampled in ("phone", "digits") or src.kind == "phone":
                notes.append(f"sampled values look like phone numbers "
                             f"({profile.kinds.get('phone', 0)}/{profile.non_empty})")
                return score + 0.05
            if sampled in ("email", "date", "datetime", "url", "boolean"):
                notes.append("sampled values are not phone numbers")
                return score * 0.5
            return score
        if spec.type in ("date", "datetime"):
            if sampled in ("date", "datetime"):
                notes.append("sampled values look like dates")
                return score + 0.05
            notes.append("sampled values are not dates")
            return score * 0.6
        if spec.type in ("float", "monetary", "integer"):
            if sampled in ("float", "integer", "digits"):
                notes.append("sampled values are numbers")
                return score + 0.03
            notes.append("sampled values are not numbers")
            return score * 0.6
        if sampled == "email" and spec.relation != "res.users":
            notes.append("sampled values look like emails")
            return score * 0.6
        return score

    def user_compat(self, src: _SourceField, compat: float, notes: list[str]) -> float:
        """How well a column fits a field pointing at users: owners given as
        emails (or as people's names) are matched to Odoo users."""
        # a reference to a staff object, where there is one, stays the better source
        sampled = src.profile.kind
        if sampled == "email" or src.kind == "email":
            notes.append("values are emails: owners are matched to Odoo users by email")
            return 0.9
        if self.names_records(src) and src.profile.non_empty:
            notes.append("values are names: owners are matched to Odoo users by name")
            return 0.85
        return min(compat, 0.6)

    @staticmethod
    def names_records(src: _SourceField) -> bool:
        """Values that can name a record: short texts, not numbers, emails or dates."""
        return src.kind in ("char", "selection") and src.profile.kind in ("char", None)

    def known_record_values(self, src: _SourceField, spec: FieldSpec) -> list[str]:
        """The column's distinct values when most of them name existing records
        of the model ``spec`` points at (Mr/Ms/Dr -> partner titles), else []."""
        if spec.type != "many2one" or not self.schema.known_records(spec.relation or ""):
            return []
        values = src.values or ([] if src.profile.too_many_distinct else list(src.profile.distinct))
        if len(values) < 2 or not self.names_records(src):
            return []
        mapped, _missing, _kind = self.record_value_map(values, spec.relation or "")
        return values if len(mapped) >= 0.8 * len(values) else []

    def transform_for(self, src: _SourceField, spec: FieldSpec, concepts: frozenset[str]
                      ) -> tuple[Optional[str], dict[str, Any]]:
        t = spec.type
        if t == "char" and "@email" in concepts:
            return "email", {}
        if t == "char" and concepts & {"@phone", "@mobile"}:
            return "phone", {}
        simple = {"date": "date", "datetime": "datetime", "integer": "integer", "boolean": "boolean"}
        if t in simple:
            return simple[t], {}
        if t in ("float", "monetary"):
            return ("money", {}) if src.kind == "monetary" else ("float", {})
        if t in ("char", "text"):
            if src.kind == "html":
                return "html_to_text", {}
            if src.kind in ("char", "text", "email", "phone", "selection", "digits"):
                return "strip", {}
            return "string", {}
        return None, {}

    # -- custom fields ---------------------------------------------------------------------
    def custom_part(self, f: FieldInfo) -> str:
        if f.custom_id:
            return f.label or f.name
        segments = [s for s in re.sub(r"\[[^\]]*\]", "", f.name).split(".") if s]
        if len(segments) > 1 and segments[-1] in ("id", "value"):
            segments.pop()
        return "_".join(segments)

    def custom_proposal(self, plan: _MapPlan, src: _SourceField, placements: dict[str, _Placement],
                        best: Optional[_Candidate], taken_by: Optional[str]) -> FieldProposal:
        f = src.info
        model = plan.model
        part = self.custom_part(f)
        name = custom_field_name("x", plan.obj.name, part)
        label = f.label or " ".join(split_words(part)).capitalize()
        ctype, transform = "char", "strip"
        selection: list[tuple[str, str]] = []
        value_map: Optional[ValueMap] = None
        relation = None
        lookup_kind: Optional[str] = None
        note = ""
        kind = src.kind
        if kind in ("many2one", "many2many", "one2many") and f.relation:
            ref = placements.get(f.relation)
            if ref is not None and ref.model and kind == "many2one":
                ctype = "many2one"
                relation = "res.users" if ref.resolve_users else ref.model
                lookup_kind = "user" if ref.resolve_users else "record"
            elif ref is not None and ref.model:
                ctype, transform = "char", "string"
                note = "; a list of references is kept as text (custom many2many fields are not proposed)"
            else:
                ctype, transform = "char", "string"
                note = f"; {f.relation} is not migrated, so the reference is kept as text"
        elif kind == "selection" and src.values:
            keys: dict[str, str] = {}
            for v in src.values:
                key = selection_key(v) or "value"
                while key in keys.values():
                    key += "_"
                keys[v] = key
            selection = [(k, v) for v, k in keys.items()]
            ctype, transform = "selection", None
            value_map = ValueMap(values=keys)
        elif kind in ("date", "datetime", "boolean", "integer", "float", "text", "html"):
            ctype = kind
            transform = {"date": "date", "datetime": "datetime", "boolean": "boolean", "integer": "integer",
                         "float": "float", "text": "strip", "html": None}[kind]
        elif kind == "monetary":
            ctype, transform = "float", "money"
            note = "; amounts become a float field (an Odoo monetary field needs a currency field)"
        elif kind == "json":
            ctype, transform = "text", "string"
        custom = CustomField(model=model, name=name, label=label[:100], type=ctype, selection=selection,
                             relation=relation,
                             help=f"Migrated from {self.source_kind} {plan.obj.name}: {f.label or f.name}")
        vm_name = name if value_map is not None else None
        if f.custom_id:
            confidence = 0.95
            reason = f"custom field of the source ({f.type})"
        else:
            best_score = min(best.score, 1.0) if best else 0.0
            confidence = round(max(0.5, min(0.95, 1.0 - best_score)), 2)
            if best is not None and taken_by:
                reason = f"best match {best.target} ({_fmt(best.score)}) is taken by {taken_by}"
            elif best is not None:
                reason = f"no {model} field matches well (best {best.target}, {_fmt(best.score)})"
            else:
                reason = f"no {model} field matches"
        reason += f"; new {ctype} field {name}" + note
        if src.profile.empty and src.profile.sampled >= MIN_SAMPLES_FOR_EMPTY:
            reason += f"; empty in all {src.profile.sampled} sampled records"
            confidence = min(confidence, 0.5)
        if ctype == "selection":
            reason += f" with {len(selection)} options"
        row: Union[FieldRow, LookupRow]
        if lookup_kind:
            row = LookupRow(source=src.path, target=name, kind=lookup_kind,  # type: ignore[arg-type]
                            object=f.relation, confidence=confidence, reason=reason)
        else:
            row = FieldRow(source=src.path, target=name, transform=transform, value_map=vm_name,
                           confidence=confidence, reason=reason)
        return FieldProposal(sources=[src.path], action="custom", row=row, custom_field=custom,
                             value_map_name=vm_name, value_map=value_map, confidence=confidence, reason=reason,
                             alternatives=[(best.target, round(min(best.score, 1.0), 2))] if best else [])

    # -- 3. nothing to migrate ---------------------------------------------------------------
    def skips(self, plan: _MapPlan, sources: list[_SourceField], st: _MapState) -> None:
        split = self.vocab.partner_split
        person_only = self.vocab.phrase_words(split.get("person_only", ()))
        company_only = self.vocab.phrase_words(split.get("company_only", ()))
        name_parts = [w for role in ("first", "middle", "last")
                      for w in self.vocab.phrase_words(self.vocab.person_name.get(role, ()))]
        has_items = {s.path.split("[", 1)[0] for s in sources if s.derived}
        for src in sources:
            if src.derived:
                continue
            leaf = self.vocab.words(path_words(src.path))
            skip_reason = self.vocab.skip_source_fields.get("_".join(split_words(src.path)))
            if skip_reason:
                st.skip(src, skip_reason)
            elif src.path == plan.discriminator:
                st.skip(src, f"splits {plan.obj.name} into companies and people (the maps filter on it)")
            elif plan.role == "company" and (leaf in person_only or leaf in name_parts
                                             or src.info.relation == plan.obj.name):
                st.skip(src, "a detail of people; this map takes companies", 0.7)
            elif plan.role in ("person", "employee") and leaf in company_only and not src.info.custom_id:
                st.skip(src, "a company detail; people take their name from its parts", 0.7)
            elif plan.role == "person" and src.path == plan.parent_ref:
                st.skip(src, "people of this map belong to no company (the map filters on it)", 0.8)
            elif src.kind == "json" and not src.info.custom_id:
                if src.path in has_items:
                    st.skip(src, "a list of sub-records; its items are offered by path below", 0.8)
                else:
                    st.skip(src, "a nested list or object; map its parts by path instead "
                                 "(for example addresses[primary=True].street)", 0.6)

    # -- 4. composed values ----------------------------------------------------------------------
    def person_name(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
                    st: _MapState) -> None:
        if plan.role == "company":
            return
        rules = self.vocab.person_name
        target = (plan.companion or {}).get("person_name_target") or rules.get("target", {}).get(plan.model)
        if not target or target not in dict(fields) or target in st.taken:
            return
        parts: dict[str, _SourceField] = {}
        for role in ("first", "middle", "last"):
            phrases = self.vocab.phrase_words(rules.get(role, ()))
            for src in sources:
                if src.path in st.result or src.info.custom_id or src.derived:
                    continue
                if src.leaf in phrases:
                    parts.setdefault(role, src)
                    break
        if "first" not in parts or "last" not in parts:
            return
        full = next((s for s in sources if s.path not in st.result and not s.info.custom_id
                     and s.leaf in (("name",), ("full", "name"))), None)
        if full is not None and plan.role in (None, "companion"):
            return  # a full name, and people are not split from companies: use it as it is
        roles = [r for r in ("first", "middle", "last") if r in parts]
        paths = [parts[r].path for r in roles]
        reason = f"people's {', '.join(roles)} names joined into {target}"
        row = FieldRow(sources=paths, target=target, transform="concat", required=True,
                       confidence=0.9, reason=reason)
        proposal = FieldProposal(sources=paths, action="field", row=row, confidence=0.9, reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[target] = " + ".join(paths)
        if full is not None:
            st.result[full.path] = FieldProposal(
                sources=[full.path], action="skip", confidence=0.8,
                reason=f"{target} is built from the name parts ({', '.join(paths)})")

    def address_lines(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
                      st: _MapState) -> None:
        rule = self.vocab.data.get("address_lines") or {}
        target = rule.get("target")
        if not target or target not in dict(fields) or target in st.taken or plan.role == "employee":
            return
        lines = []
        for concept in rule.get("concepts", ()):
            src = next((s for s in sources if s.path not in st.result and not s.derived and not s.info.custom_id
                        and self.vocab.concepts(s.leaf) == {"@" + concept}), None)
            if src is None:
                return
            lines.append(src)
        paths = [s.path for s in lines]
        reason = f"address lines {', '.join(paths)} joined into {target} (Odoo has two street lines)"
        row = FieldRow(sources=paths, target=target, transform="concat", args={"sep": rule.get("sep", ", ")},
                       confidence=0.85, reason=reason)
        proposal = FieldProposal(sources=paths, action="field", row=row, confidence=0.85, reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[target] = " + ".join(paths)

    def own_address(self, plan: _MapPlan, sources: list[_SourceField], st: _MapState) -> None:
        """People of a company: their address goes to one custom text field."""
        rule = self.vocab.partner_split.get("with_parent") or {}
        if plan.role != "employee":
            return
        concepts = {"@" + c for c in rule.get("address_concepts", ())}
        parts = [s for s in sources if s.path not in st.result and not s.derived and not s.info.custom_id
                 and self.vocab.concepts(s.leaf) & concepts]
        if not parts:
            return
        name = custom_field_name("x", plan.obj.name, rule.get("field", "own address"))
        paths = [s.path for s in parts]
        reason = f"{rule.get('why', 'own address kept apart')}; new char field {name}"
        custom = CustomField(model=plan.model, name=name, label=rule.get("label", "Own address"), type="char",
                             help=f"Migrated from {self.source_kind} {plan.obj.name}: the person's own address")
        row = FieldRow(sources=paths, target=name, transform="concat", args={"sep": ", "}, confidence=0.85,
                       reason=reason)
        proposal = FieldProposal(sources=paths, action="custom", row=row, custom_field=custom, confidence=0.85,
                                 reason=reason)
        for p in paths:
            st.result[p] = proposal
        st.taken[name] = " + ".join(paths)

    def title(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
              st: _MapState) -> None:
        """A required name built from the record's number or type and its description or client."""
        groups = self.vocab.data.get("title_parts", {}).get(plan.model)
        spec = dict(fields).get("name")
        if not groups or spec is None or "name" in st.taken or not spec.required:
            return
        direct = {self.vocab.words("name"), self.vocab.words(spec.label or "name")}
        direct.update(self.vocab.phrase_words(self.vocab.field_hints.get(plan.model, {}).get("name", ())))
        if any(s.leaf in direct for s in sources if s.path not in st.result and not s.derived):
            return
        chosen: list[_SourceField] = []
        for group in groups:
            for phrase in self.vocab.phrase_words(group):
                src = next((s for s in sources if s.leaf == phrase and s not in chosen
                            and not s.derived and not s.info.custom_id
                            and (s.path not in st.result or st.result[s.path].action != "skip")), None)
                if src is not None:
                    chosen.append(src)
                    break
        if not chosen:
            return
        paths = [s.path for s in chosen]
        reason = f"the {spec.label or 'name'} ({plan.model}.name, required) is built from {' and '.join(paths)}"
        if len(paths) > 1:
            row = FieldRow(sources=paths, target="name", transform="concat", args={"sep": " - "}, required=True,
                           confidence=0.8, reason=reason)
        else:
            row = FieldRow(source=paths[0], target="name", transform="strip", required=True, confidence=0.8,
                           reason=reason)
        st.extras.append(FieldProposal(sources=paths, action="field", row=row, confidence=0.8, reason=reason))
        st.taken["name"] = " + ".join(paths)
        st.title_sources.update(paths)

    def link(self, plan: _MapPlan, sources: list[_SourceField], fields: list[tuple[str, FieldSpec]],
             st: _MapState) -> None:
        companion = plan.companion
        if not companion or not companion.get("link"):
            return
        link = companion["link"]
        target = link.get("target")
        src = next((s for s in sources if s.path == link.get("source")), None)
        if src is None or target not in dict(fields):
            return
        reason = f"links to the {plan.obj.name} record's own {dict(fields)[target].relation} (same source id)"
        row = LookupRow(source=src.path, target=target, kind="record", object=plan.obj.name, required=True,
                        confidence=0.95, reason=reason)
        st.result[src.path] = FieldProposal(sources=[src.path], action="lookup", row=row, confidence=0.95,
                                            reason=reason)
        st.taken[target] = src.path

    # -- 6. stage extras -----------------------------------------------------------------------------
    def stage_extras(self, plan: _MapPlan, src: _SourceField, chosen: FieldProposal,
                     fields: list[tuple[str, FieldSpec]], st: _MapState,
                     placements: dict[str, _Placement]) -> None:
        row = chosen.row
        vm = chosen.value_map
        if not isinstance(row, LookupRow) or vm is None or row.kind not in ("xmlid", "name") or not src.values:
            return
        relation = dict(fields)[row.target].relation or ""
        records = self.schema.known_records(relation)
        lost = [v for v in src.values if self.lost(v)]
        values = dict(vm.values)
        if lost and records:
            first = records[0].xmlid if row.kind == "xmlid" else records[0].name
            for v in lost:
                values.setdefault(v, first)
            active = dict(fields).get("active")
            if active is not None and active.type == "boolean" and "active" not in st.taken:
                vm_name = f"{plan.name}_active"
                reason = (f"{', '.join(lost)} mean lost: those records are archived, which is how Odoo shows "
                          f"a lost {plan.model} (their stage stays {records[0].name})")
                st.extras.append(FieldProposal(
                    sources=[src.path], action="field",
                    row=FieldRow(source=src.path, target="active", value_map=vm_name, confidence=0.8, reason=reason),
                    value_map_name=vm_name, value_map=ValueMap(values={v: not self.lost(v) for v in src.values}),
                    confidence=0.8, reason=reason))
                st.taken["active"] = src.path
        chosen.value_map = ValueMap(values=values)
        missing = [v for v in src.values if v not in values]
        lossy = bool(missing) or len(set(values.values())) < len(values)
        if missing:
            chosen.reason += f"; no {relation} record for {', '.join(missing)}: choose one"
        if lossy:
            custom = self.custom_proposal(plan, src, placements, None, None)
            custom.reason = (f"several {src.path} values share a {relation} record, so the exact value is kept too; "
                             + custom.reason.split("; ", 1)[-1])
            custom.confidence = 0.8
            if custom.row is not None:
                custom.row = custom.row.model_copy(update={"confidence": 0.8, "reason": custom.reason})
            if custom.custom_field is not None and custom.custom_field.name not in st.taken:
                st.extras.append(custom)
                st.taken[custom.custom_field.name] = src.path

    # -- fields of one map ---------------------------------------------------------------------------
    def propose_fields(self, plan: _MapPlan, placements: dict[str, _Placement]) -> list[FieldProposal]:
        obj = plan.obj
        records = _filtered(self.samples.get(obj.name, []), plan.filter)
        sources: list[_SourceField] = []
        for i, f in enumerate(obj.fields):
            sources.append(self.source_field(obj, f, i, records))
            if f.type == "json" and not f.custom_id:
                sources.extend(self.item_fields(obj, f, len(obj.fields) + i, records))
        fields = self.candidate_fields(plan.model)
        produced = {p.model for p in placements.values() if p.model and not p.resolve_users}
        st = _MapState()
        self.skips(plan, sources, st)
        self.link(plan, sources, fields, st)
        self.person_name(plan, sources, fields, st)
        self.own_address(plan, sources, st)
        self.address_lines(plan, sources, fields, st)
        self.title(plan, sources, fields, st)
        # 5. score what is left
        candidates: list[tuple[_SourceField, _Candidate]] = []
        no_ref_reason: dict[str, str] = {}
        for src in sources:
            if src.path in st.result or src.info.custom_id:
                continue
            if src.info.relation and src.kind in ("many2one", "many2many", "one2many"):
                if plan.role == "company" and src.info.relation == obj.name:
                    continue
                cands, why = self.reference_candidates(plan, src, fields, placements)
                if not cands:
                    no_ref_reason[src.path] = why
            else:
                cands = self.scalar_candidates(plan, src, fields, produced)
            candidates.extend((src, c) for c in cands)
        # 6. best pairs first
        candidates.sort(key=lambda sc: (-round(sc[1].score, 6), sc[0].order, sc[1].target))
        best_of: dict[str, _Candidate] = {}
        alternatives: dict[str, list[tuple[str, float]]] = {}
        for src, cand in candidates:
            best_of.setdefault(src.path, cand)
            alternatives.setdefault(src.path, []).append((cand.target, round(min(cand.score, 1.0), 2)))
        chosen: list[tuple[_SourceField, FieldProposal]] = []
        for src, cand in candidates:
            if src.path in st.result or cand.score < ACCEPT or cand.target in st.taken:
                continue
            st.taken[cand.target] = src.path
            vm_name = None
            if cand.value_map is not None:
                vm_name = f"{plan.name}_{cand.target}"
                cand.row = cand.row.model_copy(update={"value_map": vm_name})
            action: Action = "lookup" if isinstance(cand.row, LookupRow) else "field"
            proposal = FieldProposal(
                sources=[src.path], action=action, row=cand.row, value_map_name=vm_name,
                value_map=cand.value_map, confidence=round(min(cand.score, 1.0), 2), reason=cand.reason,
                alternatives=[a for a in alternatives[src.path] if a[0] != cand.target][:3])
            st.result[src.path] = proposal
            chosen.append((src, proposal))
        for src, proposal in chosen:
            self.stage_extras(plan, src, proposal, fields, st, placements)
            if proposal.row is not None:
                proposal.row = proposal.row.model_copy(update={"reason": proposal.reason})
        # 7. the rest: new custom fields
        for src in sources:
            if src.path in st.result:
                continue
            if src.derived:
                continue  # paths into sub-records only ever land on existing fields
            if src.path in no_ref_reason and not (placements.get(src.info.relation or "")
                                                  and placements[src.info.relation or ""].model):
                st.skip(src, no_ref_reason[src.path], 0.6)
                continue
            if plan.role == "company" and src.info.relation == obj.name:
                st.skip(src, "a company has no company above it in this map", 0.7)
                continue
            if src.path in st.title_sources and not src.values:
                # a unique number or text is already in the name; a category keeps its own field
                st.skip(src, f"kept in the {plan.model} name it helps build", 0.7)
                continue
            best = best_of.get(src.path)
            taken_by = st.taken.get(best.target) if best else None
            proposal = self.custom_proposal(plan, src, placements, best, taken_by)
            if proposal.custom_field is not None and proposal.custom_field.name in st.taken:
                st.skip(src, f"its custom field {proposal.custom_field.name} is already written here", 0.5)
                continue
            if proposal.custom_field is not None:
                st.taken[proposal.custom_field.name] = src.path
            st.result[src.path] = proposal
        ordered: list[FieldProposal] = list(st.extras)
        seen = {id(fp) for fp in ordered}
        for src in sources:
            fp = st.result.get(src.path)
            if fp is not None and id(fp) not in seen:
                seen.add(id(fp))
                ordered.append(fp)
        return ordered

    # -- users to resolve --------------------------------------------------------------------------------
    def user_fields(self, obj: ObjectInfo) -> list[FieldProposal]:
        out = []
        for f in obj.fields:
            words = self.vocab.words(path_words(f.name))
            if "@email" in self.vocab.concepts(words) or f.type == "email":
                out.append(FieldProposal(sources=[f.name], action="skip", confidence=0.9,
                                         reason="matched against the email of Odoo users to resolve owners"))
            else:
                out.append(FieldProposal(sources=[f.name], action="skip", confidence=0.8,
                                         reason="users are resolved, not created; nothing is written"))
        return out

    # -- pack ------------------------------------------------------------------------------------------------
    def from_pack(self, placements: dict[str, _Placement]) -> tuple[list[ObjectProposal], set[str]]:
        assert self.pack is not None
        out: list[ObjectProposal] = []
        covered: set[str] = set()
        custom = {(cf.model, cf.name): cf for cf in self.pack.custom_fields}
        for om in self.pack.objects:
            obj = self.by_name.get(om.source_object)
            covered.add(om.source_object)
            fields: list[FieldProposal] = []
            used: set[str] = set()
            reason = f"default map {self.pack.source_kind}: {om.description or om.name}"
            rows: list[Union[FieldRow, LookupRow]] = [*om.fields, *om.lookups]
            for row in rows:
                paths = ([row.source] if row.source else []) + list(getattr(row, "sources", []) or [])
                used.update(paths)
                cf = custom.get((om.target_model, row.target))
                action: Action = "custom" if cf else ("lookup" if isinstance(row, LookupRow) else "field")
                fields.append(FieldProposal(sources=paths, action=action, row=row, custom_field=cf,
                                            value_map_name=row.value_map, confidence=1.0,
                                            reason=f"from the default map ({om.name})", from_pack=True))
            if obj is not None:
                plan = _MapPlan(om.name, obj, om.target_model, 1.0, reason, filter=dict(om.filter))
                records = _filtered(self.samples.get(obj.name, []), om.filter)
                for i, f in enumerate(obj.fields):
                    if f.name in used:
                        continue
                    if f.custom_id:
                        src = self.source_field(obj, f, i, records)
                        fields.append(self.custom_proposal(plan, src, placements, None, None))
                    else:
                        fields.append(FieldProposal(sources=[f.name], action="skip", confidence=0.8,
                                                    reason=f"the default map leaves it out ({om.name})"))
            out.append(ObjectProposal(
                name=om.name, source_object=om.source_object, target_model=om.target_model,
                filter=dict(om.filter), defaults=dict(om.defaults), after=list(om.after),
                identity=getattr(om, "identity", None), match_on=list(getattr(om, "match_on", []) or []),
                confidence=1.0, reason=reason, fields=fields, from_pack=True))
        return out, covered

    # -- everything ------------------------------------------------------------------------------------------
    def run(self) -> Proposal:
        placements = {obj.name: self.place(obj) for obj in self.objects}
        if self.pack is not None:
            for om in self.pack.objects:
                current = placements.get(om.source_object)
                if current is None or current.model is None:
                    placements[om.source_object] = _Placement(om.target_model, 1.0, "default map")
                for row in om.lookups:
                    if row.kind == "user" and row.object and row.object not in placements:
                        placements[row.object] = _Placement("res.users", 1.0, "default map", resolve_users=True)
        objects: list[ObjectProposal] = []
        covered: set[str] = set()
        if self.pack is not None:
            objects, covered = self.from_pack(placements)
        for obj in self.objects:
            if obj.name in covered:
                continue
            placement = placements[obj.name]
            if placement.model is None:
                objects.append(ObjectProposal(
                    name=self.map_name(obj), source_object=obj.name, confidence=round(placement.confidence, 2),
                    reason=placement.reason,
                    fields=[FieldProposal(sources=[f.name], action="skip", confidence=round(placement.confidence, 2),
                                          reason=f"{obj.name} is not migrated") for f in obj.fields]))
                continue
            if placement.resolve_users:
                objects.append(ObjectProposal(
                    name=self.map_name(obj), source_object=obj.name, target_model=placement.model,
                    resolve_users=True, confidence=round(placement.confidence, 2), reason=placement.reason,
                    fields=self.user_fields(obj)))
                continue
            for plan in self.plans(obj, placement):
                objects.append(ObjectProposal(
                    name=plan.name, source_object=obj.name, target_model=plan.model, filter=plan.filter,
                    defaults=plan.defaults, after=plan.after, identity=plan.identity, match_on=plan.match_on,
                    confidence=round(min(plan.confidence, 1.0), 2), reason=plan.reason,
                    fields=self.propose_fields(plan, placements)))
        return Proposal(source_kind=self.source_kind, objects=objects,
                        pack_value_maps=dict(self.pack.value_maps) if self.pack else {},
                        description=f"Proposed map from {self.source_kind} to Odoo")


def propose_map(source_schema: list[ObjectInfo], target_schema: TargetSchema,
                samples: Optional[dict[str, list[SourceRecord]]] = None, *,
                pack: Optional[MapSpec] = None, source_kind: str = "source",
                vocabulary: Optional[Vocabulary] = None) -> Proposal:
    """A proposed landing place, transform, confidence and reason for every
    field of every source object; see the module docstring for the steps.

    ``samples`` (records per source object) sharpen the proposal: value kinds,
    picklist options, fields that are always empty, paths into sub-records.
    With a default ``pack``, its rows are kept as they are and only what it
    does not cover is proposed (the account's own custom fields, objects it
    does not map).
    """
    vocab = vocabulary or default_vocabulary()
    if pack is not None and source_kind == "source":
        source_kind = pack.source_kind
    return _Proposer(list(source_schema), target_schema, samples, pack, source_kind, vocab).run()


__all__ = ["ACCEPT", "FieldProposal", "ObjectProposal", "Proposal", "custom_field_name", "propose_map"]
