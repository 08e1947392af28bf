"""What the loader needs to know of each Dataverse table, read from the
schema snapshot ``mapping/schemas/dynamics365_sales.json`` (one source for
the map checks and the loader): entity set names, primary id columns, the
navigation property of each lookup per target table (``@odata.bind``), and
the columns valid on create only.

The snapshot names the migration's own columns and tables with the default
publisher prefix ``new_``; :func:`table` gives them with the prefix a migration
uses (``--prefix``): the time entries' table, its columns, lookups and
relationships all follow it.

Lookups are written as ``"<navigation>@odata.bind": "/<entity set>(<id>)"``
and read back as ``_<column>_value``:
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ...errors import MappingError
from ...mapping.target_schema import SCHEMAS_DIR

SNAPSHOT = "dynamics365_sales"
#: the publisher prefix the snapshot and the default pack are written with
PACK_PREFIX = "new_"
#: the Clio id column, after the prefix
KEY_COLUMN = "clioid"


@dataclass(frozen=True)
class Closing:
    """How a table's rows are closed: never by writing ``statecode`` (Dataverse refuses it), but
    by an action that creates a close activity naming the row and takes the status reason:
    ``WinOpportunity`` / ``LoseOpportunity`` with an ``opportunityclose``, ``CloseIncident``
    with an ``incidentresolution``.  A closed row is read-only; an update of its ``statecode``
    back to open (with an open ``statuscode``) reopens it.
    https://learn.microsoft.com/power-apps/developer/data-platform/special-update-operation-behavior
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/winopportunity
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/loseopportunity
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/closeincident
    """

    #: closing statecode -> the action that sets it
    actions: dict[int, str]
    #: the action's parameter carrying the close activity
    parameter: str
    activity: str
    activity_set: str
    #: the close activity's lookup to the row
    lookup: str
    #: the status reason a reopened row takes when the map gives no open one
    open_status: int
    #: the subject of the close activities the migration creates
    subject: str
    #: closing statecode -> the status reason it takes when the map gives none
    default_status: dict[int, int] = field(default_factory=dict)
    #: the custom column (after the publisher prefix) holding the day the row closed at the source:
    #: the close activity's ``actualend`` (the close date of the Close dialog) when the row has one
    date_column: str = "closedate"


CLOSING = {
    "opportunity": Closing({1: "WinOpportunity", 2: "LoseOpportunity"}, "OpportunityClose", "opportunityclose",
                           "opportunitycloses", "opportunityid", 1, "Matter closed in Clio", {1: 3, 2: 4}),
    "incident": Closing({1: "CloseIncident"}, "IncidentResolution", "incidentresolution", "incidentresolutions",
                        "incidentid", 1, "Matter closed in Clio", {1: 5, 2: 6}),
}


@dataclass(frozen=True)
class Table:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    #: lookup column -> {target table: navigation property}
    lookups: dict[str, dict[str, str]] = field(default_factory=dict)
    #: column -> type in the map vocabulary (char, text, selection ...)
    types: dict[str, str] = field(default_factory=dict)
    create_only: frozenset[str] = frozenset()
    max_length: dict[str, int] = field(default_factory=dict)
    #: for a table the migration creates (a custom table): how to create it
    #: (``schema_name``, ``ownership``, ``display_collection_name``, primary name column)
    custom_table: Optional[dict[str, Any]] = None
    #: lookup column -> how to create it (``schema_name`` of the relationship,
    #: ``lookup_schema_name``), for lookups of a custom table
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the publisher prefix of the migration's own names on this table
    prefix: str = PACK_PREFIX

    def navigation(self, column: str, target: str) -> str:
        try:
            return self.lookups[column][target]
        except KeyError:
            raise MappingError(f"{self.logical_name}.{column} cannot point at a {target} row; "
                               f"map the lookup to a column that can") from None


def _renamed(value: Any, prefix: str) -> Any:
    """``value`` with every name that starts with ``new_`` (keys and strings) starting with ``prefix``;
    no standard Dynamics 365 name starts with it, so only the migration's own ones change."""
    if isinstance(value, dict):
        return {_renamed(k, prefix): _renamed(v, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, prefix) for v in value]
    if isinstance(value, str) and value.startswith(PACK_PREFIX):
        return prefix + value[len(PACK_PREFIX):]
    return value


@functools.lru_cache(maxsize=None)
def snapshot(prefix: str = PACK_PREFIX) -> dict[str, Any]:
    """The Dynamics 365 snapshot with the migration's own names under ``prefix``."""
    data = json.loads((SCHEMAS_DIR / f"{SNAPSHOT}.json").read_text(encoding="utf-8"))
    return data if prefix == PACK_PREFIX else _renamed(data, prefix)


def _snapshot() -> dict[str, Any]:
    return snapshot(PACK_PREFIX)


def prefix_of(key_column: str) -> str:
    """The publisher prefix of a Clio id column (``new_clioid`` -> ``new_``)."""
    if not key_column.endswith(KEY_COLUMN) or len(key_column) == len(KEY_COLUMN):
        raise MappingError(f"the Clio id column {key_column!r} is not <prefix>{KEY_COLUMN}")
    return key_column[:-len(KEY_COLUMN)]


def target_schema(prefix: str = PACK_PREFIX):
    """The snapshot as a :class:`~flitstack_connectors.mapping.TargetSchema`, for map checks."""
    from ...mapping.target_schema import TargetSchema

    return TargetSchema.from_json(json.dumps(snapshot(prefix)))


@functools.lru_cache(maxsize=None)
def table(logical_name: str, prefix: str = PACK_PREFIX) -> Table:
    """The table ``logical_name`` as the snapshot describes it, the migration's names under ``prefix``."""
    models = snapshot(prefix)["models"]
    body = models.get(logical_name)
    if body is None:
        known = ", ".join(sorted(models))
        raise MappingError(f"Dynamics 365 has no table {logical_name!r} in this version of FlitStack; "
                           f"choose one of {known}")
    dv = body["dataverse"]
    fields = body["fields"]
    return Table(
        logical_name=logical_name, entity_set=dv["entity_set"], primary_id=dv["primary_id"],
        primary_name=dv["primary_name"],
        lookups={n: dict(f["navigation"]) for n, f in fields.items() if f.get("navigation")},
        types={n: f["type"] for n, f in fields.items()},
        create_only=frozenset(n for n, f in fields.items() if f.get("create_only")),
        max_length={n: int(f["max_length"]) for n, f in fields.items() if f.get("max_length")},
        custom_table=dv.get("custom_table"),
        relationships={n: dict(f["relationship"]) for n, f in fields.items() if f.get("relationship")},
        prefix=prefix,
    )


def entity_set_of(logical_name: str) -> str:
    return table(logical_name).entity_set


def table_of_entity_set(entity_set: str) -> Optional[str]:
    for name, body in _snapshot()["models"].items():
        if body["dataverse"]["entity_set"] == entity_set:
            return name
    return None
