"""The metadata half of the emulated Web API: tables, columns, alternate keys,
one-to-many relationships and publishing.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-metadata
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any, Optional

from ..server import EmulatedRequest, EmulatedResponse
from . import schema as S
from .odata import FilterParser, ODataError

CDS = "Microsoft.Dynamics.CRM."
NOT_EXIST = "0x80040217"


def _label(text: str) -> dict[str, Any]:
    loc = {"@odata.type": f"{CDS}LocalizedLabel", "Label": text, "LanguageCode": 1033}
    return {"@odata.type": f"{CDS}Label", "LocalizedLabels": [loc], "UserLocalizedLabel": loc}


def _label_text(label: Any) -> Optional[str]:
    if isinstance(label, dict):
        for loc in label.get("LocalizedLabels") or []:
            if isinstance(loc, dict) and loc.get("Label"):
                return str(loc["Label"])
    return None


class Key:
    """An alternate key; its index is built asynchronously."""

    def __init__(self, schema_name: str, attributes: list[str], activate_at: float):
        self.schema_name = schema_name
        self.logical = schema_name.lower()
        self.attributes = attributes
        self.activate_at = activate_at
        self.metadata_id = str(uuid.uuid4())
        self.failed = False

    def status(self) -> str:
        # EntityKeyIndexStatus: Pending, InProgress, Active, Failed
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/define-alternate-keys-entity
        if self.failed:
            return "Failed"
        return "Active" if time.time() >= self.activate_at else "Pending"


class MetadataMixin:
    """EntityDefinitions, RelationshipDefinitions, PublishXml and PublishAllXml for :class:`DataverseEmulator`."""

    # -- metadata -------------------------------------------------------------------------
    def _check_prefix(self, schema_name: Any, what: str) -> str:
        # custom schema names begin with the solution publisher's customization prefix
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-update-entity-definitions-using-web-api#create-table-definitions
        if not isinstance(schema_name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", schema_name):
            raise ODataError(400, "", f"The {what} needs a SchemaName of letters, digits and underscores.")
        prefix, sep, rest = schema_name.partition("_")
        if not sep or not rest or prefix.lower() not in self.publisher_prefixes:
            raise ODataError(400, "", f"The SchemaName '{schema_name}' of the {what} does not begin with the customization "
                             f"prefix of a publisher ({', '.join(p + '_' for p in self.publisher_prefixes)}).")
        return schema_name.lower()

    def _table_by_logical(self, key: Optional[str]) -> S.Table:
        if key is None:
            raise ODataError(400, "", "Name the table: EntityDefinitions(LogicalName='<name>').")
        m = re.match(r"^LogicalName='([^']*)'$", key)
        name = m.group(1) if m else None
        for t in self.tables.values():
            if (name is not None and t.logical == name) or (name is None and t.metadata_id == key.lower()):
                return t
        raise ODataError(404, NOT_EXIST, f"Could not find an entity with LogicalName = '{name or key}'.")

    def _entity_meta(self, t: S.Table) -> dict[str, Any]:
        if t.metadata_id is None:
            t.metadata_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"entity:{t.logical}"))
        return {"@odata.type": f"#{CDS}EntityMetadata", "MetadataId": t.metadata_id, "LogicalName": t.logical,
                "SchemaName": t.schema_name or t.logical.capitalize(), "EntitySetName": t.entity_set,
                "LogicalCollectionName": t.entity_set, "PrimaryIdAttribute": t.primary_id,
                "PrimaryNameAttribute": t.primary_name, "IsCustomEntity": t.custom, "OwnershipType":
                "OrganizationOwned" if "ownerid" not in t.columns else t.ownership, "IsActivity": S.is_activity(t),
                "DisplayName": _label(t.display_name or t.logical), "DisplayCollectionName":
                _label(t.display_collection_name or t.entity_set)}

    def _attribute_meta(self, t: S.Table, c: S.Column, expand: bool) -> dict[str, Any]:
        if c.metadata_id is None:
            c.metadata_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"attribute:{t.logical}.{c.logical}"))
        out: dict[str, Any] = {"@odata.type": f"#{S.METADATA_TYPE_OF.get(c.type, CDS + 'AttributeMetadata')}",
                               "MetadataId": c.metadata_id, "LogicalName": c.logical, "SchemaName": c.schema_name or c.logical,
                               "EntityLogicalName": t.logical, "AttributeType": c.type,
                               "AttributeTypeName": {"Value": f"{c.type}Type"}, "IsCustomAttribute": c.custom,
                               "IsPrimaryId": c.logical == t.primary_id, "IsPrimaryName": c.logical == t.primary_name,
                               "IsValidForCreate": c.valid_for_create, "IsValidForUpdate": c.valid_for_update,
                               "RequiredLevel": {"Value": "SystemRequired" if c.logical in t.system_required else c.required,
                                                 "CanBeChanged": True, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
                               "DisplayName": _label(c.display_name or c.logical)}
        if c.type in (S.STRING, S.MEMO):
            out["MaxLength"] = c.max_length
        if c.type in (S.INTEGER, S.DECIMAL, S.MONEY, S.DOUBLE, S.BIGINT):
            out["MinValue"], out["MaxValue"] = c.min_value, c.max_value
        if c.type == S.DATETIME:
            out["Format"] = "DateOnly" if c.date_only else "DateAndTime"
        if c.is_lookup:
            out["Targets"] = list(c.targets)
        if c.options is not None and expand:
            out["OptionSet"] = {"@odata.type": f"#{CDS}OptionSetMetadata", "IsGlobal": False,
                                "OptionSetType": c.type if c.type != S.PICKLIST else "Picklist",
                                "Options": [{"Value": v, "Label": _label(lbl)} for v, lbl in sorted(c.options.items())]}
        return out

    def _key_meta(self, t: S.Table, k: Key) -> dict[str, Any]:
        return {"@odata.type": f"#{CDS}EntityKeyMetadata", "MetadataId": k.metadata_id, "LogicalName": k.logical,
                "SchemaName": k.schema_name, "EntityLogicalName": t.logical, "KeyAttributes": list(k.attributes),
                "EntityKeyIndexStatus": k.status()}

    def _meta_list(self, request: EmulatedRequest, items: list[dict[str, Any]], context: str) -> EmulatedResponse:
        if request.param("$filter"):
            names = set().union(*[set(i) for i in items]) if items else set()

            def resolve(n: str) -> str:
                if n not in names:
                    raise ODataError(400, "0x0", f"Could not find a property named '{n}' on the metadata type.")
                return n
            pred = FilterParser(request.param("$filter"), resolve).parse()
            items = [i for i in items if pred(i)]
        return self._json(200, {"@odata.context": context, "value": [self._meta_select(request, i) for i in items]})

    @staticmethod
    def _meta_select(request: EmulatedRequest, item: dict[str, Any]) -> dict[str, Any]:
        raw = request.param("$select")
        if not raw:
            return item
        wanted = [n.strip() for n in raw.split(",") if n.strip()] + ["MetadataId"]
        return {k: v for k, v in item.items() if k in wanted or k == "@odata.type"}

    def _entity_definitions(self, request: EmulatedRequest, key: Optional[str], rest: list[tuple[str, Optional[str]]]) -> EmulatedResponse:
        ctx = f"{self.api_url}/$metadata#EntityDefinitions"
        with self.store.lock:
            if key is None and not rest:
                if request.method == "GET":
                    return self._meta_list(request, [self._entity_meta(t) for t in self.tables.values()], ctx)
                if request.method == "POST":
                    return self._create_table(self._body(request))
                raise ODataError(405, "", f"The requested resource does not support http method '{request.method}'.")
            table = self._table_by_logical(key)
            if not rest:
                if request.method != "GET":
                    raise ODataError(501, "", "The emulated environment does not update table definitions.")
                return self._json(200, self._meta_select(request, {"@odata.context": f"{ctx}/$entity", **self._entity_meta(table)}))
            name, sub_key = rest[0]
            cast = rest[1][0] if len(rest) > 1 else None
            expand = "OptionSet" in (request.param("$expand") or "") or cast is not None
            if name == "Attributes":
                if sub_key is None and request.method == "POST":
                    return self._create_column(table, self._body(request))
                if request.method != "GET":
                    raise ODataError(405, "", f"The requested resource does not support http method '{request.method}'.")
                if sub_key is None:
                    items = [self._attribute_meta(table, c, expand) for c in table.columns.values()]
                    if cast:
                        items = [i for i in items if i["@odata.type"] == f"#{cast}"]
                    return self._meta_list(request, items, f"{ctx}('{table.logical}')/Attributes")
                m = re.match(r"^LogicalName='([^']*)'$", sub_key)
                col = table.columns.get(m.group(1)) if m else next(
                    (c for c in table.columns.values() if c.metadata_id == sub_key.lower()), None)
                if col is None:
                    raise ODataError(404, NOT_EXIST, f"Could not find an attribute {sub_key} on entity {table.logical}.")
                meta = self._attribute_meta(table, col, expand)
                if cast and meta["@odata.type"] != f"#{cast}":
                    raise ODataError(400, "", f"The attribute {col.logical} is not a {cast}.")
                return self._json(200, self._meta_select(request, meta))
            if name == "Keys":
                if sub_key is None and request.method == "POST":
                    return self._create_key(table, self._body(request))
                if request.method != "GET":
                    raise ODataError(405, "", f"The requested resource does not support http method '{request.method}'.")
                items = [self._key_meta(table, k) for k in self.keys.get(table.logical, [])]
                if sub_key is not None:
                    m = re.match(r"^LogicalName='([^']*)'$", sub_key)
                    found = [i for i in items if (m and i["LogicalName"] == m.group(1)) or i["MetadataId"] == sub_key.lower()]
                    if not found:
                        raise ODataError(404, NOT_EXIST, f"Could not find the key {sub_key} on entity {table.logical}.")
                    return self._json(200, self._meta_select(request, found[0]))
                return self._meta_list(request, items, f"{ctx}('{table.logical}')/Keys")
        raise ODataError(501, "", f"The emulated environment does not serve EntityDefinitions/{name}.")

    def _column_from(self, table: S.Table, body: dict[str, Any]) -> S.Column:
        """A column from AttributeMetadata, with the documented shapes per type.
        https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api"""
        otype = body.get("@odata.type", "").lstrip("#")
        if otype in (f"{CDS}LookupAttributeMetadata", f"{CDS}ComplexLookupAttributeMetadata"):
            raise ODataError(400, "", "A lookup column is created with its relationship: POST RelationshipDefinitions "
                             "with a OneToManyRelationshipMetadata whose Lookup is the column.")
        if otype not in S.METADATA_TYPES:
            raise ODataError(400, "", f"The '@odata.type' '{otype or '(none)'}' is not an attribute metadata type this "
                             f"environment creates ({', '.join(sorted(S.METADATA_TYPES))}).")
        kind = S.METADATA_TYPES[otype]
        if body.get("AttributeType") not in (None, kind):
            raise ODataError(400, "", f"AttributeType '{body.get('AttributeType')}' does not match '@odata.type' {otype}.")
        logical = self._check_prefix(body.get("SchemaName"), "column")
        if logical in table.columns:
            raise ODataError(400, "", f"An attribute with the logical name {logical} already exists on {table.logical}.")
        col = S.Column(logical, kind, schema_name=body["SchemaName"], custom=True, display_name=_label_text(body.get("DisplayName")))
        if kind in (S.STRING, S.MEMO):
            top = 4000 if kind == S.STRING else 1048576
            n = body.get("MaxLength")
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= top:
                raise ODataError(400, "", f"MaxLength of a {kind} column must be a whole number from 1 to {top}.")
            col.max_length = n
        elif kind in (S.INTEGER, S.BIGINT):
            lo, hi = (-2147483648, 2147483647) if kind == S.INTEGER else (-2**63, 2**63 - 1)
            col.min_value, col.max_value = body.get("MinValue", lo), body.get("MaxValue", hi)
            if not (lo <= col.min_value <= col.max_value <= hi):
                raise ODataError(400, "", f"MinValue and MaxValue of an {kind} column must lie within {lo} and {hi}.")
        elif kind in (S.DECIMAL, S.MONEY, S.DOUBLE):
            lo, hi = (-100000000000, 100000000000) if kind != S.MONEY else (-922337203685477, 922337203685477)
            col.min_value, col.max_value = body.get("MinValue", lo), body.get("MaxValue", hi)
            precision = body.get("Precision", 2)
            if kind == S.DECIMAL and not (isinstance(precision, int) and 0 <= precision <= 10):
                raise ODataError(400, "", "Precision of a Decimal column must be a whole number from 0 to 10.")
        elif kind == S.DATETIME:
            fmt = body.get("Format", "DateAndTime")
            if fmt not in ("DateOnly", "DateAndTime"):
                raise ODataError(400, "", f"Format '{fmt}' of a DateTime column must be DateOnly or DateAndTime.")
            col.date_only = fmt == "DateOnly"
        elif kind == S.BOOLEAN:
            os_ = body.get("OptionSet") or {}
            if not isinstance(os_.get("TrueOption"), dict) or not isinstance(os_.get("FalseOption"), dict):
                raise ODataError(400, "", "A Boolean column needs OptionSet.TrueOption and OptionSet.FalseOption.")
        elif kind == S.PICKLIST:
            os_ = body.get("OptionSet") or {}
            options = os_.get("Options") if isinstance(os_, dict) else None
            if not isinstance(options, list) or not options:
                raise ODataError(400, "", "A Picklist column needs OptionSet.Options (or a global option set).")
            col.options = {}
            for opt in options:
                value = opt.get("Value") if isinstance(opt, dict) else None
                if not isinstance(value, int) or isinstance(value, bool) or value in col.options:
                    raise ODataError(400, "", "Each option needs a distinct whole-number Value.")
                col.options[value] = _label_text(opt.get("Label")) or str(value)
        level = (body.get("RequiredLevel") or {}).get("Value", "None")
        col.required = level if level in ("None", "Recommended", "ApplicationRequired", "SystemRequired") else "None"
        return col

    def _create_column(self, table: S.Table, body: dict[str, Any]) -> EmulatedResponse:
        col = self._column_from(table, body)
        table.add(col)
        col.metadata_id = str(uuid.uuid4())
        for row_id, row in list(self.store.tables.get(table.logical, {}).items()):
            self.store.put(table.logical, row_id, {**row, col.logical: None})
        self.unpublished.add((table.logical, col.logical))
        return self._no_content({"OData-EntityId": f"{self.api_url}/EntityDefinitions(LogicalName='{table.logical}')"
                                                   f"/Attributes({col.metadata_id})"})

    def _create_table(self, body: dict[str, Any]) -> EmulatedResponse:
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-update-entity-definitions-using-web-api#create-table-definitions
        logical = self._check_prefix(body.get("SchemaName"), "table")
        if logical in self.tables:
            raise ODataError(400, "", f"A table with the logical name {logical} already exists.")
        for prop in ("DisplayName", "DisplayCollectionName", "OwnershipType"):
            if body.get(prop) in (None, ""):
                raise ODataError(400, "", f"Creating a table needs '{prop}'.")
        if body["OwnershipType"] not in ("UserOwned", "OrganizationOwned"):
            raise ODataError(400, "", f"OwnershipType '{body['OwnershipType']}' is not UserOwned or OrganizationOwned.")
        attrs = body.get("Attributes") or []
        primary = [a for a in attrs if isinstance(a, dict) and a.get("IsPrimaryName")]
        if len(primary) != 1 or primary[0].get("@odata.type", "").lstrip("#") != f"{CDS}StringAttributeMetadata":
            raise ODataError(400, "", "The Attributes of a new table must include exactly one StringAttributeMetadata "
                             "with IsPrimaryName true (the primary name column).")
        entity_set = body.get("EntitySetName") or f"{logical}s"
        if any(t.entity_set == entity_set for t in self.tables.values()):
            raise ODataError(400, "", f"The entity set name {entity_set} is taken.")
        owned = body["OwnershipType"] == "UserOwned"
        table = S.Table(logical, entity_set, f"{logical}id", None, states=dict(S.ACTIVE_INACTIVE), custom=True,
                        schema_name=body["SchemaName"], ownership=body["OwnershipType"], metadata_id=str(uuid.uuid4()),
                        display_name=_label_text(body.get("DisplayName")),
                        display_collection_name=_label_text(body.get("DisplayCollectionName")))
        cols = [self._column_from(table, a) for a in attrs]
        table.primary_name = cols[attrs.index(primary[0])].logical
        S._common(table, owned=owned)
        for c in cols:
            table.add(c)
        self.tables[logical] = table
        self.unpublished.add((logical, ""))
        return self._no_content({"OData-EntityId": f"{self.api_url}/EntityDefinitions({table.metadata_id})"})

    def _create_key(self, table: S.Table, body: dict[str, Any]) -> EmulatedResponse:
        # EntityKeyMetadata with KeyAttributes; the index is built asynchronously (Pending -> Active,
        # or Failed when existing rows hold duplicates); at most 10 keys per table; columns of
        # type Decimal, Integer, String, DateTime, Lookup or Picklist only
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/define-alternate-keys-entity
        schema_name = body.get("SchemaName")
        self._check_prefix(schema_name, "alternate key")
        attrs = body.get("KeyAttributes")
        if not isinstance(attrs, list) or not attrs or not all(isinstance(a, str) for a in attrs):
            raise ODataError(400, "", "An alternate key needs KeyAttributes: the logical names of its columns.")
        if len(self.keys.get(table.logical, [])) >= 10:
            raise ODataError(400, "", f"The table {table.logical} already has 10 alternate keys, the most it can have.")
        for a in attrs:
            col = table.columns.get(a)
            if col is None:
                raise ODataError(400, "", f"The key attribute {a} is not a column of {table.logical}.")
            if col.type not in (S.STRING, S.INTEGER, S.DECIMAL, S.DATETIME, S.LOOKUP, S.PICKLIST, S.CUSTOMER, S.OWNER):
                raise ODataError(400, "", f"The column {a} of type {col.type} cannot be part of an alternate key.")
        if any(k.logical == schema_name.lower() or k.attributes == attrs for k in self.keys.get(table.logical, [])):
            raise ODataError(400, "", f"An alternate key with that name or those attributes exists on {table.logical}.")
        key = Key(schema_name, list(attrs), time.time() + self.key_activation_delay)
        seen = set()
        for row in self.store.tables.get(table.logical, {}).values():
            values = tuple((v.lower() if isinstance(v, str) else v) for v in (row.get(self._stored_name(table, a)) for a in attrs))
            if all(v is not None for v in values):
                if values in seen:
                    key.failed = True
                seen.add(values)
        self.keys[table.logical].append(key)
        self.unpublished.add((table.logical, f"key:{key.logical}"))
        return self._no_content({"OData-EntityId": f"{self.api_url}/EntityDefinitions(LogicalName='{table.logical}')"
                                                   f"/Keys({key.metadata_id})"})

    def _relationship_definitions(self, request: EmulatedRequest, key: Optional[str]) -> EmulatedResponse:
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-update-entity-relationships-using-web-api
        if request.method == "GET":
            items = list(self.relationships.values())
            if key:
                found = [i for i in items if i["MetadataId"] == key.lower() or f"SchemaName='{i['SchemaName']}'" == key]
                if not found:
                    raise ODataError(404, NOT_EXIST, f"Could not find the relationship {key}.")
                return self._json(200, found[0])
            return self._meta_list(request, items, f"{self.api_url}/$metadata#RelationshipDefinitions")
        if request.method != "POST" or key is not None:
            raise ODataError(405, "", f"The requested resource does not support http method '{request.method}'.")
        body = self._body(request)
        otype = str(body.get("@odata.type", "")).lstrip("#")
        if otype == f"{CDS}ManyToManyRelationshipMetadata":
            raise ODataError(501, "", "The emulated environment creates one-to-many relationships only.")
        if otype != f"{CDS}OneToManyRelationshipMetadata":
            raise ODataError(400, "", "Set '@odata.type' to Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata: the "
                             "RelationshipDefinitions entity set creates both kinds of relationship.")
        with self.store.lock:
            name = self._check_prefix(body.get("SchemaName"), "relationship")
            if any(r["SchemaName"].lower() == name for r in self.relationships.values()):
                raise ODataError(400, "", f"A relationship named {body['SchemaName']} exists.")
            referenced = self.tables.get(str(body.get("ReferencedEntity")))
            referencing = self.tables.get(str(body.get("ReferencingEntity")))
            if referenced is None or referencing is None:
                raise ODataError(400, "", "ReferencedEntity and ReferencingEntity must be logical names of existing tables.")
            if body.get("ReferencedAttribute") not in (None, referenced.primary_id):
                raise ODataError(400, "", f"ReferencedAttribute must be {referenced.primary_id}, the primary key of {referenced.logical}.")
            lookup = body.get("Lookup")
            if not isinstance(lookup, dict) or str(lookup.get("@odata.type", "")).lstrip("#") != f"{CDS}LookupAttributeMetadata":
                raise ODataError(400, "", "The relationship needs a Lookup of type Microsoft.Dynamics.CRM.LookupAttributeMetadata.")
            column = self._check_prefix(lookup.get("SchemaName"), "lookup column")
            if column in referencing.columns:
                raise ODataError(400, "", f"An attribute with the logical name {column} already exists on {referencing.logical}.")
            # the single-valued navigation property is named after the lookup's SchemaName unless
            # ReferencingEntityNavigationPropertyName says otherwise (names are case sensitive)
            nav = body.get("ReferencingEntityNavigationPropertyName") or lookup["SchemaName"]
            col = S.Column(column, S.LOOKUP, targets=(referenced.logical,), schema_name=lookup["SchemaName"], custom=True,
                           metadata_id=str(uuid.uuid4()), display_name=_label_text(lookup.get("DisplayName")))
            referencing.add(col)
            referencing.nav(nav, column, referenced.logical)
            for row_id, row in list(self.store.tables.get(referencing.logical, {}).items()):
                self.store.put(referencing.logical, row_id, {**row, col.value_name: None})
            rid = str(uuid.uuid4())
            self.relationships[rid] = {"@odata.type": f"#{otype}", "MetadataId": rid, "SchemaName": body["SchemaName"],
                                       "ReferencedEntity": referenced.logical, "ReferencedAttribute": referenced.primary_id,
                                       "ReferencingEntity": referencing.logical, "ReferencingAttribute": column,
                                       "ReferencingEntityNavigationPropertyName": nav,
                                       "ReferencedEntityNavigationPropertyName":
                                           body.get("ReferencedEntityNavigationPropertyName") or body["SchemaName"]}
            self.unpublished.add((referencing.logical, column))
        return self._no_content({"OData-EntityId": f"{self.api_url}/RelationshipDefinitions({rid})"})

    def _publish(self, action: str, request: EmulatedRequest) -> EmulatedResponse:
        # customizations are published with PublishXml (named entities) or PublishAllXml
        # https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/create-update-entity-definitions-using-web-api#update-table-definitions
        with self.store.lock:
            if action == "PublishAllXml":
                self.unpublished.clear()
                return self._no_content()
            xml = self._body(request).get("ParameterXml")
            if not isinstance(xml, str) or "<importexportxml>" not in xml:
                raise ODataError(400, "", "PublishXml needs ParameterXml such as "
                                 "'<importexportxml><entities><entity>account</entity></entities></importexportxml>'.")
            names = re.findall(r"<entity>\s*([^<\s]+)\s*</entity>", xml)
            for n in names:
                if n not in self.tables:
                    raise ODataError(400, "", f"PublishXml names the entity '{n}', which does not exist.")
            self.unpublished = {u for u in self.unpublished if u[0] not in names}
        return self._no_content()
