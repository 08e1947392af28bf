"""Plan a migration: object maps in dependency order, records in batches."""
from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator, TypeVar

from .errors import MappingError
from .mapping.spec import MapSpec, ObjectMap

#: the most records one batch (one job, one transaction) carries
MAX_BATCH_SIZE = 500

T = TypeVar("T")


def map_dependencies(spec: MapSpec, om: ObjectMap) -> set[str]:
    """Names of the object maps that must load before ``om``: those producing the
    records its lookups point at, and those named in ``after``."""
    deps = set(om.after)
    for row in om.lookups:
        if row.kind == "record" and row.object:
            deps.update(o.name for o in spec.objects
                        if o.enabled and o.identity_name == row.object and o.name != om.name)
    return deps


def dependency_order(spec: MapSpec) -> list[ObjectMap]:
    """Enabled object maps, referenced ones first; ties keep the spec's order.

    A lookup of a map onto its own source object (a contact's company is a
    contact) is not a dependency: split such objects into filtered maps
    (companies, then people) and order them with ``after``.
    """
    maps = [om for om in spec.objects if om.enabled]
    deps = {om.name: map_dependencies(spec, om) & {m.name for m in maps} for om in maps}
    ordered: list[ObjectMap] = []
    done: set[str] = set()
    while len(ordered) < len(maps):
        ready = [om for om in maps if om.name not in done and deps[om.name] <= done]
        if not ready:
            cycle = sorted(n for n in deps if n not in done)
            raise MappingError(f"Object maps depend on each other in a cycle: {', '.join(cycle)}; "
                               f"remove a lookup or split an object map to break it")
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered


def batches(items: Iterable[T], size: int = MAX_BATCH_SIZE) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (at most MAX_BATCH_SIZE)."""
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
