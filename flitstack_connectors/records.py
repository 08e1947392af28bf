"""The records every source produces and every destination consumes.

A source turns a vendor's API or export into :class:`SourceRecord` objects and
describes what it holds with :class:`ObjectInfo` and :class:`FieldInfo`.  The
mapping layer turns a ``SourceRecord`` into a :class:`PlannedRecord`: the values
a destination writes, plus references to other migrated records that the
destination resolves by external id at load time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

#: Field types a source can report.  They follow Odoo's field types where one
#: exists, plus a few value kinds that matter when proposing a map.
FieldType = Literal[
    "char", "text", "html", "integer", "float", "monetary", "date", "datetime",
    "boolean", "selection", "many2one", "one2many", "many2many", "email", "phone",
    "binary", "json",
]


class FieldInfo(BaseModel):
    """One field of a source object, as discovered."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str = ""
    type: FieldType = "char"
    required: bool = False
    #: allowed values of a picklist / selection field
    selection: list[str] = Field(default_factory=list)
    #: the source object a reference field points at (``contacts`` for ``client``)
    relation: Optional[str] = None
    #: a source-side identifier for custom fields (Clio custom field id ...)
    custom_id: Optional[str] = None


class ObjectInfo(BaseModel):
    """One object (table, endpoint, export file) of a source."""

    name: str
    label: str = ""
    count: Optional[int] = None
    fields: list[FieldInfo] = Field(default_factory=list)
    #: source objects this one references; they migrate first
    depends_on: list[str] = Field(default_factory=list)

    def field(self, name: str) -> Optional[FieldInfo]:
        return next((f for f in self.fields if f.name == name), None)


class Attachment(BaseModel):
    """A file that belongs to a source record.  Content is fetched lazily by the
    source (``Source.open_attachment``) so that large files stream."""

    source_id: str
    filename: str
    mimetype: Optional[str] = None
    size: Optional[int] = None
    created_at: Optional[datetime] = None
    #: where the source can fetch it from (URL path or path inside an export)
    location: Optional[str] = None
    #: what the source says identifies this content (a document version's id and etag,
    #: an upload's size and date): equal on a later read means the file did not change,
    #: so it need not be downloaded again.  None when the source gives nothing that does
    version: Optional[str] = None


class SourceRecord(BaseModel):
    """One record read from a source.

    ``problems`` holds reasons why the record cannot be trusted as read (a date
    that does not parse, a missing id).  Such a record is still handed on, so
    that it ends as a ``fail`` audit line with its reason instead of vanishing.
    """

    object: str
    source_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    updated_at: Optional[datetime] = None
    #: 1-based data row (header excluded is row 1 = first data line + 1) for file sources
    row_number: Optional[int] = None
    attachments: list[Attachment] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


RefKind = Literal["record", "user", "xmlid", "name", "email"]


class Ref(BaseModel):
    """A reference the destination resolves when it writes a record.

    - ``record``: another migrated record, by source object and id; resolved
      through the external id ``<source object>_<source id>``.
    - ``user``: a source staff member, by source user id; resolved through the
      user resolution table (email match or fallback user).
    - ``xmlid``: an existing destination record by its XML id (``crm.stage_lead1``).
    - ``name``: an existing destination record found by its display name.
    - ``email``: an existing destination record found by its email address (an
      attendee: the user with that email, else a partner with it).
    """

    model_config = ConfigDict(frozen=True)

    kind: RefKind
    object: Optional[str] = None
    key: str


class PlannedRecord(BaseModel):
    """What a destination writes for one source record of one object map."""

    map_name: str
    source_object: str
    source_id: str
    model: str
    values: dict[str, Any] = Field(default_factory=dict)
    #: many2one field -> reference
    refs: dict[str, Ref] = Field(default_factory=dict)
    #: many2many field -> references (written as a full replacement)
    many_refs: dict[str, list[Ref]] = Field(default_factory=dict)
    #: reasons this record must not load; it ends as a ``fail`` line
    errors: list[str] = Field(default_factory=list)
    #: facts worth keeping on the audit line (fallback owner used, text split ...)
    notes: list[str] = Field(default_factory=list)
    row_number: Optional[int] = None
    #: the name the record is known by in external ids and record lookups when
    #: its object map sets ``identity``; else ``source_object``
    identity: Optional[str] = None
    #: for sample runs: target field -> {"source": path(s), "value": source value}
    trace: dict[str, Any] = Field(default_factory=dict)
    #: for object maps whose records are files (``ObjectMap.file``): the file to
    #: fetch from the source when the record loads; metadata only, never content
    file: Optional[Attachment] = None

    @property
    def xmlid_name(self) -> str:
        return external_id_name(self.identity or self.source_object, self.source_id)


def external_id_name(source_object: str, source_id: str) -> str:
    """The ``name`` part of the external id of a migrated record; the module part
    is ``flitstack_<connection id>``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(source_id))
    return f"{source_object}_{safe}"
