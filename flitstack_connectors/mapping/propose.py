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

Where the steps live: 1 and 2 in :mod:`.propose_objects`, 3 to 7 in
:mod:`.propose_fields`, what sampled values say (evidence, value maps, owners,
transforms) in :mod:`.propose_values`, and the result types in :mod:`.proposal`.
"""
from __future__ import annotations

from typing import Optional, Union

from ..records import ObjectInfo, SourceRecord
from .proposal import (ACCEPT, PACK_OPTIONS, Action, FieldProposal, ObjectProposal, Proposal, _filtered, _MapPlan,
                       _Placement,
                       custom_field_name)
from .propose_fields import FieldSteps
from .propose_objects import ObjectSteps
from .propose_values import ValueSteps
from .spec import FieldRow, LookupRow, MapSpec
from .target_schema import TargetSchema
from .vocabulary import Vocabulary, default_vocabulary, path_words


class _Proposer(ObjectSteps, FieldSteps, ValueSteps):
    """One proposal run: the steps (objects, fields, values) over one source and destination."""

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
                confidence=1.0, reason=reason, fields=fields, from_pack=True,
                options=om.model_dump(mode="json", include=set(PACK_OPTIONS), exclude_defaults=True)))
        return out, covered

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
                        pack_pricelists=list(self.pack.pricelists) if self.pack else [],
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
