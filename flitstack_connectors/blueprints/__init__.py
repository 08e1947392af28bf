"""JSON blueprints of what cannot migrate as data.

For each source, what it holds that Odoo cannot take as records (templates,
workflows, stages, webhooks, settings, the rate hierarchy) becomes one JSON
document per kind: the source's values, item by item, and for each item the
Odoo 18 feature to rebuild it with. Each kind is a versioned pydantic model
(:mod:`.models`) whose JSON Schema is published in ``schemas/<kind>.schema.json``.

1. :func:`read_blueprints` reads the kinds of a :class:`~flitstack_connectors.sources.base.Source`
   (``clio``, ``cliniko``, ``clientjoy``, ``clinic_csv``) and returns a :class:`BlueprintSet`;
2. :func:`write_zip` / :func:`zip_bytes` pack its documents, their schemas and an
   ``index.json`` into one zip archive;
3. :func:`write_schemas` writes the schemas from the models (the committed files
   must equal what the models generate; a test checks it).
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Mapping, Optional, Union

from .models import KINDS, SCHEMA_VERSION, SOURCE_KINDS, Blueprint

__all__ = ["KINDS", "SOURCE_KINDS", "SCHEMA_VERSION", "BlueprintSet", "read_blueprints", "run_extract", "schema_of",
           "write_schemas", "write_zip", "zip_bytes", "SCHEMA_DIR", "document_bytes"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@dataclass
class BlueprintSet:
    """The blueprint documents of one source, and the kinds it had nothing for."""

    source: str
    documents: list[Blueprint]
    absent: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def by_kind(self) -> dict[str, Blueprint]:
        return {d.kind: d for d in self.documents}

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "generated_at": self.generated_at.isoformat(timespec="seconds"),
                "kinds": [{"kind": d.kind, "title": d.title, "items": d.item_count, "file": f"{d.kind}.json",
                           "schema": f"schemas/{d.kind}.schema.json", "schema_version": d.schema_version,
                           "notes": d.notes} for d in self.documents],
                "absent": list(self.absent)}


def read_blueprints(source: Any, now: Optional[datetime] = None,
                    staged: Optional[Mapping[str, Callable[[], Iterable[dict[str, Any]]]]] = None,
                    matter_rates: Optional[Callable[[Any, str], Optional[dict[str, Any]]]] = None) -> BlueprintSet:
    """Every blueprint kind ``source`` holds (see the README's "Blueprints").

    ``staged``: per source object, a callable giving the records a run read of it,
    as :func:`run_extract` kept them; the blueprints take those objects from there
    instead of reading them again (Clio's matters and practice areas).
    ``matter_rates``: Clio's matter rates looked up beforehand, a few matters per
    job (``clio.rate_lookups`` and ``clio.matter_rate``), by (matter id, user id)."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    kind = getattr(source, "kind", "")
    absent: list[str] = []
    if kind == "clio":
        from . import clio
        docs = clio.read(source, now, staged, matter_rates)
    elif kind == "cliniko":
        from . import cliniko
        docs = cliniko.read(source, now)
    elif kind == "clientjoy":
        from . import files
        docs, absent = files.clientjoy(source, now)
    elif kind == "clinic_csv":
        from . import files
        docs = files.clinic_csv(source, now)
    else:
        raise ValueError(f"No blueprints for a {kind!r} source: choose one of {', '.join(SOURCE_KINDS)}")
    return BlueprintSet(kind, docs, absent, now)


def run_extract(kind: str, object_name: str, record: dict[str, Any]) -> Optional[dict[str, Any]]:
    """What the blueprints of a ``kind`` source need of ``record``, which a run read
    from ``object_name``: a run keeps it with its staged records and hands it back
    through ``read_blueprints(staged=...)``. None when they need nothing of it."""
    if kind == "clio":
        from . import clio
        return clio.run_extract(object_name, record)
    return None


def schema_of(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``kind`` as its model generates it."""
    model = KINDS[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://flitstack.example/blueprints/{kind}/{SCHEMA_VERSION}.schema.json"
    return schema


def _schema_text(kind: str) -> str:
    return json.dumps(schema_of(kind), indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Union[str, os.PathLike, None] = None) -> list[Path]:
    """Write ``<kind>.schema.json`` for every kind into ``folder`` (default: the package's)."""
    target = Path(folder) if folder else SCHEMA_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = target / f"{kind}.schema.json"
        path.write_text(_schema_text(kind), encoding="utf-8")
        written.append(path)
    return written


def document_bytes(document: Blueprint) -> bytes:
    """One document as the archive holds it (UTF-8 JSON, indented)."""
    return (json.dumps(document.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write(archive: zipfile.ZipFile, documents: Mapping[str, bytes], index: Mapping[str, Any]) -> None:
    archive.writestr("index.json", json.dumps(index, indent=2) + "\n")
    for kind, content in documents.items():
        archive.writestr(f"{kind}.json", content)
        archive.writestr(f"schemas/{kind}.schema.json", _schema_text(kind))


def zip_bytes(documents: Mapping[str, bytes], index: Mapping[str, Any]) -> bytes:
    """A zip of ``documents`` (kind -> JSON bytes), their schemas and ``index``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, documents, index)
    return buffer.getvalue()


def write_zip(blueprints: BlueprintSet, out: Union[str, os.PathLike, IO[bytes]]) -> None:
    """Write ``blueprints`` as one zip archive to the path or binary stream ``out``."""
    documents = {d.kind: document_bytes(d) for d in blueprints.documents}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, documents, blueprints.summary())
