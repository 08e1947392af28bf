"""How close a proposed map comes to a reference map (a default pack).

The unit is the pair ``(source object, source path, model, target field)``;
a row reading several paths (a ``concat``) gives one pair per path.  New
custom fields are compared as a kind, not by name: ``x_matters_open_date``
and the pack's ``x_flitstack_open_date`` both stand for "a new field for
open_date", written :data:`NEW_FIELD`.

- recall: the share of the reference's pairs the proposal also has;
- precision: the share of the proposal's pairs the reference also has,
  counted on the objects the reference maps, leaving out new custom fields
  for source fields the reference does not map at all (keeping such a value
  in a field of its own is neither right nor wrong by the reference).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from .spec import MapSpec

Pair = tuple[str, str, str, str]

#: what every new custom field target becomes in a compared pair
NEW_FIELD = "<new x_ field>"


def spec_pairs(spec: MapSpec) -> set[Pair]:
    """``(source object, source path, model, target)`` of every row of ``spec``."""
    out: set[Pair] = set()
    for om in spec.objects:
        if not om.enabled:
            continue
        for row in om.fields:
            for path in ([row.source] if row.source else []) + list(row.sources):
                out.add((om.source_object, path, om.target_model, row.target))
        for lookup in om.lookups:
            out.add((om.source_object, lookup.source, om.target_model, lookup.target))
    return out


def normalise(pairs: Iterable[Pair]) -> set[Pair]:
    return {(obj, path, model, NEW_FIELD if target.startswith("x_") else target)
            for obj, path, model, target in pairs}


@dataclass(frozen=True)
class Agreement:
    """Pairs shared by a proposal and a reference, with the measures over them."""

    reference: frozenset[Pair]
    #: the proposal's pairs that count for precision
    proposed: frozenset[Pair]
    hits: frozenset[Pair] = field(default_factory=frozenset)

    @property
    def recall(self) -> float:
        return len(self.hits) / len(self.reference) if self.reference else 1.0

    @property
    def precision(self) -> float:
        return len(self.hits) / len(self.proposed) if self.proposed else 1.0

    @property
    def missing(self) -> list[Pair]:
        return sorted(self.reference - self.hits)

    @property
    def extra(self) -> list[Pair]:
        return sorted(self.proposed - self.hits)

    def summary(self) -> str:
        return (f"recall {len(self.hits)}/{len(self.reference)} = {self.recall:.3f}, "
                f"precision {len(self.hits)}/{len(self.proposed)} = {self.precision:.3f}")

    def existing_fields_only(self) -> "Agreement":
        """The same measures on pairs into fields the destination already has."""
        return Agreement(reference=frozenset(p for p in self.reference if p[3] != NEW_FIELD),
                         proposed=frozenset(p for p in self.proposed if p[3] != NEW_FIELD),
                         hits=frozenset(p for p in self.hits if p[3] != NEW_FIELD))

    def only(self, source_objects: Iterable[str]) -> "Agreement":
        """The same measures restricted to some source objects."""
        keep = set(source_objects)
        return Agreement(reference=frozenset(p for p in self.reference if p[0] in keep),
                         proposed=frozenset(p for p in self.proposed if p[0] in keep),
                         hits=frozenset(p for p in self.hits if p[0] in keep))


def agreement(proposed: Iterable[Pair], reference: MapSpec,
              source_objects: Optional[Iterable[str]] = None) -> Agreement:
    """Compare proposed pairs (``Proposal.pairs()``) with a reference spec."""
    ref = normalise(spec_pairs(reference))
    mine = normalise(proposed)
    if source_objects is not None:
        keep = set(source_objects)
        ref = {p for p in ref if p[0] in keep}
        mine = {p for p in mine if p[0] in keep}
    objects = {p[0] for p in ref}
    mapped_paths = {(p[0], p[1]) for p in ref}
    counted = {p for p in mine if p[0] in objects and (p[3] != NEW_FIELD or (p[0], p[1]) in mapped_paths)}
    return Agreement(reference=frozenset(ref), proposed=frozenset(counted), hits=frozenset(ref & counted))
