"""Provisioning: the custom columns and alternate keys a map needs, through
the Dataverse metadata API.

1. read each table's columns (``EntityDefinitions(LogicalName='account')/Attributes``);
2. create each missing custom column with its Dataverse type (String, Memo,
   Integer, Decimal, Money, DateTime, Boolean, Picklist with its options):
   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api
   an existing column of another type stops provisioning with what to do; a
   choice column missing options gets them with ``InsertOptionValue``:
   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/insertoptionvalue
3. create the alternate key on the Clio id column of every table the map
   writes (``EntityDefinitions(...)/Keys``) and wait until its index is Active:
   https://learn.microsoft.com/power-apps/developer/data-platform/define-alternate-keys-entity
4. publish the tables (``PublishXml``):
   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/publishxml

Columns are created in the solution ``solution`` when given (the
``MSCRM.SolutionUniqueName`` header), with the publisher prefix the map's
column names carry (``new_`` by default).

Tables the map writes that Dynamics 365 does not have (the snapshot marks them
``custom_table``, such as the time entries' table) are created first, with
their lookup columns through one-to-many relationships.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...errors import MappingError
from ...mapping.spec import CustomField, MapSpec
from .client import DataverseClient
from .errors import DataverseConfigurationError, DataverseError
from .tables import prefix_of, table

LANGUAGE = 1033
#: map vocabulary -> Dataverse attribute metadata type
ATTRIBUTE_TYPES = {
    "char": "String", "text": "Memo", "html": "Memo", "integer": "Integer", "float": "Decimal",
    "monetary": "Money", "date": "DateTime", "datetime": "DateTime", "boolean": "Boolean", "selection": "Picklist",
}
#: AttributeType values Dataverse reports for each
REPORTED_TYPES = {"String": {"String"}, "Memo": {"Memo"}, "Integer": {"Integer"}, "Decimal": {"Decimal"},
                  "Money": {"Money"}, "DateTime": {"DateTime"}, "Boolean": {"Boolean"},
                  "Picklist": {"Picklist"}}
STRING_MAX = 400
MEMO_MAX = 100000


def _label(text: str) -> dict[str, Any]:
    return {"@odata.type": "Microsoft.Dynamics.CRM.Label",
            "LocalizedLabels": [{"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text,
                                 "LanguageCode": LANGUAGE}]}


def attribute_body(cf: CustomField) -> dict[str, Any]:
    """The ``AttributeMetadata`` JSON that creates ``cf``."""
    kind = ATTRIBUTE_TYPES.get(cf.type)
    if kind is None:
        raise MappingError(f"custom column {cf.model}.{cf.name}: type {cf.type!r} has no Dataverse column type; "
                           f"use one of {', '.join(sorted(ATTRIBUTE_TYPES))}")
    body: dict[str, Any] = {
        "@odata.type": f"Microsoft.Dynamics.CRM.{kind}AttributeMetadata", "SchemaName": cf.name,
        "DisplayName": _label(cf.label), "Description": _label(cf.help or cf.label),
        "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
    }
    if kind == "String":
        body.update(MaxLength=STRING_MAX, FormatName={"Value": "Text"})
    elif kind == "Memo":
        body.update(MaxLength=MEMO_MAX, Format="TextArea")
    elif kind == "Integer":
        body.update(MinValue=-2147483648, MaxValue=2147483647, Format="None")
    elif kind == "Decimal":
        body.update(MinValue=-100000000000.0, MaxValue=100000000000.0, Precision=2)
    elif kind == "Money":
        body.update(MinValue=-922337203685477.0, MaxValue=922337203685477.0, Precision=2, PrecisionSource=2,
                    ImeMode="Disabled")
    elif kind == "DateTime":
        only = cf.type == "date"
        body.update(Format="DateOnly" if only else "DateAndTime",
                    DateTimeBehavior={"Value": "DateOnly" if only else "UserLocal"})
    elif kind == "Boolean":
        body.update(DefaultValue=False, OptionSet={
            "@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata", "OptionSetType": "Boolean",
            "TrueOption": {"Value": 1, "Label": _label("Yes")}, "FalseOption": {"Value": 0, "Label": _label("No")}})
    elif kind == "Picklist":
        body["OptionSet"] = {"@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata", "IsGlobal": False,
                             "OptionSetType": "Picklist",
                             "Options": [{"Value": int(key), "Label": _label(label)} for key, label in cf.selection]}
    return body


def key_schema_name(table: str, column: str) -> str:
    return f"{column}_key"


@dataclass
class ProvisionReport:
    created_tables: list[str] = field(default_factory=list)
    created_lookups: list[str] = field(default_factory=list)
    created_columns: list[str] = field(default_factory=list)
    existing_columns: list[str] = field(default_factory=list)
    added_options: list[str] = field(default_factory=list)
    created_keys: list[str] = field(default_factory=list)
    existing_keys: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.__dict__.items()}


class Provisioner:
    """Creates what ``spec`` needs on one environment; safe to run again."""

    def __init__(self, client: DataverseClient, *, key_column: str, solution: Optional[str] = None,
                 key_timeout: float = 600.0, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.key_column = key_column
        self.solution = solution
        self.key_timeout = key_timeout
        self._sleep = sleep

    def table(self, name: str):
        return table(name, prefix_of(self.key_column))

    def _headers(self) -> dict[str, str]:
        return {"MSCRM.SolutionUniqueName": self.solution} if self.solution else {}

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        data = self.client.get_json(f"EntityDefinitions(LogicalName='{table}')/Attributes",
                                    {"$select": "LogicalName,AttributeType"}, table=table)
        return {a["LogicalName"]: a for a in data.get("value") or []}

    def options(self, table: str, column: str) -> set[int]:
        data = self.client.get_json(
            f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"
            f"/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            {"$expand": "OptionSet"}, table=table)
        opts = ((data.get("OptionSet") or {}).get("Options")) or []
        return {int(o["Value"]) for o in opts if o.get("Value") is not None}

    def keys(self, table: str) -> list[dict[str, Any]]:
        data = self.client.get_json(f"EntityDefinitions(LogicalName='{table}')/Keys",
                                    {"$select": "SchemaName,LogicalName,KeyAttributes,EntityKeyIndexStatus"},
                                    table=table)
        return list(data.get("value") or [])

    def provision(self, spec: MapSpec) -> ProvisionReport:
        report = ProvisionReport()
        tables = sorted({om.target_model for om in spec.objects if om.enabled})
        for cf in spec.custom_fields:
            if cf.model not in tables:
                continue
        touched: set[str] = set()
        for name in tables:
            if self.table(name).custom_table and self._ensure_table(name, report):
                touched.add(name)
        for table in tables:
            if self.table(table).relationships and self._ensure_lookups(table, report):
                touched.add(table)
        for table in tables:
            existing = self.columns(table)
            for cf in (c for c in spec.custom_fields if c.model == table):
                kind = ATTRIBUTE_TYPES.get(cf.type)
                have = existing.get(cf.name)
                if have is not None:
                    reported = str(have.get("AttributeType") or "")
                    if reported and reported not in REPORTED_TYPES.get(kind or "", {reported}):
                        raise DataverseConfigurationError(
                            f"{table}.{cf.name} exists as a {reported} column but the map needs {kind}: rename the "
                            f"custom column in the map, or delete the column in Dynamics 365 if nothing uses it")
                    report.existing_columns.append(f"{table}.{cf.name}")
                    if kind == "Picklist":
                        self._add_options(table, cf, report)
                    continue
                self.client.post_json(f"EntityDefinitions(LogicalName='{table}')/Attributes", attribute_body(cf),
                                      table=table, headers=self._headers(),
                                      what=f"create column {table}.{cf.name}")
                report.created_columns.append(f"{table}.{cf.name}")
                touched.add(table)
            if self.key_column not in existing and f"{table}.{self.key_column}" not in report.created_columns:
                raise MappingError(f"The map declares no custom column {table}.{self.key_column}: every table the "
                                   f"map writes needs the Clio id column for its alternate key")
            if self._ensure_key(table, report):
                touched.add(table)
        if touched:
            self.publish(sorted(touched))
            report.published = sorted(touched)
        for table in tables:
            self._wait_key_active(table)
        return report

    def _ensure_table(self, name: str, report: ProvisionReport) -> bool:
        """Create the custom table ``name`` (with its primary name column) unless it exists.
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-entity-definitions-using-web-api#create-table-definitions"""
        t = self.table(name)
        found = self.client.request("GET", f"EntityDefinitions(LogicalName='{name}')", params={"$select": "LogicalName"},
                                    table=name, ok_statuses=(404,))
        if found.status_code != 404:
            return False
        spec = t.custom_table or {}
        label = spec.get("display_name") or name
        body = {
            "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": spec["schema_name"],
            "EntitySetName": t.entity_set, "DisplayName": _label(label),
            "DisplayCollectionName": _label(spec.get("display_collection_name") or label),
            "Description": _label(spec.get("description") or label),
            "OwnershipType": spec.get("ownership", "UserOwned"), "IsActivity": False, "HasActivities": False,
            "HasNotes": bool(spec.get("has_notes", False)),
            "Attributes": [{
                "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "AttributeType": "String",
                "AttributeTypeName": {"Value": "StringType"}, "SchemaName": spec["primary_name_schema"],
                "IsPrimaryName": True, "MaxLength": int(spec.get("primary_name_length", 200)),
                "FormatName": {"Value": "Text"}, "DisplayName": _label(spec.get("primary_name_label", "Name")),
                "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                                  "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}}],
        }
        self.client.post_json("EntityDefinitions", body, table=name, headers=self._headers(),
                              what=f"create table {name}")
        report.created_tables.append(name)
        return True

    def _ensure_lookups(self, name: str, report: ProvisionReport) -> bool:
        """Create the lookup columns of a custom table with their one-to-many relationships.
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-entity-relationships-using-web-api"""
        t = self.table(name)
        existing = self.columns(name)
        created = False
        for column, rel in sorted(t.relationships.items()):
            if column in existing:
                continue
            target = next(iter(t.lookups[column]))
            referenced = self.table(target)
            body = {
                "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
                "SchemaName": rel["schema_name"], "ReferencedEntity": target,
                "ReferencedAttribute": referenced.primary_id, "ReferencingEntity": name,
                "CascadeConfiguration": {"Assign": "NoCascade", "Delete": rel.get("delete", "RemoveLink"),
                                         "Merge": "NoCascade", "Reparent": "NoCascade", "Share": "NoCascade",
                                         "Unshare": "NoCascade"},
                "Lookup": {"@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata", "AttributeType": "Lookup",
                           "AttributeTypeName": {"Value": "LookupType"}, "SchemaName": rel["lookup_schema_name"],
                           "DisplayName": _label(rel.get("label") or target),
                           "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                                             "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}},
            }
            self.client.post_json("RelationshipDefinitions", body, table=name, headers=self._headers(),
                                  what=f"create lookup {name}.{column}")
            report.created_lookups.append(f"{name}.{column}")
            created = True
        return created

    def _add_options(self, table: str, cf: CustomField, report: ProvisionReport) -> None:
        have = self.options(table, cf.name)
        for key, label in cf.selection:
            if int(key) in have:
                continue
            self.client.post_json("InsertOptionValue", {
                "EntityLogicalName": table, "AttributeLogicalName": cf.name, "Value": int(key),
                "Label": _label(label), **({"SolutionUniqueName": self.solution} if self.solution else {})},
                table=table, what=f"add an option to {table}.{cf.name}")
            report.added_options.append(f"{table}.{cf.name}={key}")

    def _ensure_key(self, table: str, report: ProvisionReport) -> bool:
        for key in self.keys(table):
            if list(key.get("KeyAttributes") or []) == [self.key_column]:
                report.existing_keys.append(f"{table}.{key.get('SchemaName') or key_schema_name(table, self.key_column)}")
                return False
        name = key_schema_name(table, self.key_column)
        self.client.post_json(f"EntityDefinitions(LogicalName='{table}')/Keys", {
            "SchemaName": name, "DisplayName": _label("Clio ID"), "KeyAttributes": [self.key_column]},
            table=table, headers=self._headers(), what=f"create alternate key on {table}.{self.key_column}")
        report.created_keys.append(f"{table}.{name}")
        return True

    def _wait_key_active(self, table: str) -> None:
        deadline = time.monotonic() + self.key_timeout
        delay = 0.2
        while True:
            status = next((str(k.get("EntityKeyIndexStatus") or "Active") for k in self.keys(table)
                           if list(k.get("KeyAttributes") or []) == [self.key_column]), None)
            if status is None or status == "Active":
                return
            if status == "Failed":
                raise DataverseError(
                    f"Dataverse could not build the alternate key index on {table}.{self.key_column} (status "
                    f"Failed): rows with the same Clio id exist already; remove the duplicates in Dynamics 365, "
                    f"then reactivate the key (ReactivateEntityKey) and start again")
            if time.monotonic() > deadline:
                raise DataverseError(
                    f"The alternate key index on {table}.{self.key_column} is still {status} after "
                    f"{self.key_timeout:.0f} s: Dataverse builds it in the background; start the migration again "
                    f"later")
            self._sleep(delay)
            delay = min(5.0, delay * 2)

    def publish(self, tables: list[str]) -> None:
        xml = "<importexportxml><entities>" + "".join(f"<entity>{t}</entity>" for t in tables) + \
              "</entities></importexportxml>"
        self.client.post_json("PublishXml", {"ParameterXml": xml}, what="PublishXml")
