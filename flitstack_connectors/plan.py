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
    records its lookups point at (the ``maps`` a lookup names, else every map
    writing its ``object``), and those named in ``after``."""
    deps = set(om.after)
    for row in om.lookups:
        if row.kind == "record" and row.object:
            deps.update(o.name for o in spec.objects
                        if o.enabled and o.identity_name == row.object and o.name != om.name
                        and (not row.maps or o.name in row.maps))
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


def children_of(spec: MapSpec, parent: ObjectMap) -> list[ObjectMap]:
    """Enabled object maps whose records land inside the create of ``parent``'s
    records (``ObjectMap.with_parent`` naming a lookup onto ``parent``'s records)."""
    out = []
    for om in spec.objects:
        if not (om.enabled and om.with_parent) or om.name == parent.name:
            continue
        row = next((r for r in om.lookups if r.target == om.with_parent.lookup and r.kind == "record"), None)
        if row is not None and row.object == parent.identity_name:
            out.append(om)
    return out


def parent_waits(spec: MapSpec, parent: ObjectMap) -> tuple[set[str], set[str]]:
    """``(maps read, maps complete)`` that a batch of ``parent`` waits for besides its own
    dependencies, so that it can land its children with it: every child map read
    to its end (its records staged) and the maps the children reference loaded,
    ``parent`` apart.  A child referencing a map that itself waits for ``parent``
    could never land with it: that is a cycle, and an error."""
    children = children_of(spec, parent)
    if not children:
        return set(), set()
    complete: set[str] = set()
    for child in children:
        complete |= map_dependencies(spec, child) - {parent.name}
    # the maps those wait for, transitively: none of them may wait for the parent
    seen, todo = set(), list(complete)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name == parent.name:
            raise MappingError(
                f"object map {parent.name!r} lands {', '.join(c.name for c in children)} with its records, "
                f"but they reference maps that load after it: remove 'with_parent' or that lookup")
        todo.extend(map_dependencies(spec, spec.object_map(name)))
    return {c.name for c in children}, complete


def record_waits(spec: MapSpec, om: ObjectMap, read_with: Iterable[str]) -> tuple[set[str], set[str]]:
    """``(lookup targets, maps)`` when the batches of ``om`` can wait for the records they
    reference instead of for whole maps: the maps ``om`` depends on that are read with it
    (``read_with``: the maps fed by the same source object, as people at a company with the
    companies), each of them named by a record lookup of ``om``.  A batch of such a map holds
    records whose referenced records are staged and batched, and it loads once those batches
    have; its other dependencies stay whole maps.  ``(set(), set())`` when ``om`` does not
    qualify: no such dependency, an ``after`` that no lookup stands for, or records that land
    with their parent or take children with them."""
    together = set(read_with) - {om.name}
    siblings = map_dependencies(spec, om) & together
    if not siblings or om.with_parent or children_of(spec, om):
        return set(), set()
    targets: set[str] = set()
    covered: set[str] = set()
    for row in om.lookups:
        if row.kind != "record" or not row.object:
            continue
        named = {o.name for o in spec.objects if o.enabled and o.identity_name == row.object
                 and o.name != om.name and (not row.maps or o.name in row.maps)} & siblings
        if named:
            targets.add(row.target)
            covered |= named
    if siblings - covered:
        return set(), set()
    return targets, siblings


def batches(items: Iterable[T], size: int = MAX_BATCH_SIZE) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (at most MAX_BATCH_SIZE)."""
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
