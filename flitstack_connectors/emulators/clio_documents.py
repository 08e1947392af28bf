"""The documents of an emulated Clio account, and the file store behind them.

Shapes follow the ``Document`` and ``DocumentVersion`` schemas of Clio's public
v4 API description, read through ``/api/v4/documents.json`` like every other list
endpoint of the emulator (``fields``, cursor paging, ``updated_since``):

- each document belongs to a matter (two in three) or to a contact, with the
  file name of its latest version (``filename``: unicode, spaces), ``size``,
  ``content_type`` and ``latest_document_version`` (``id``, ``etag``, ``size``,
  ``version_number`` ...);
- ``GET /api/v4/documents/{id}/download.json`` (``document_version_id`` optional,
  "Defaults to the latest") answers ``303 See Other`` to a signed URL on the file
  store, as the API reference documents the operation (Documents > "Download the
  Document", https://docs.developers.clio.com/api-reference/ ; the public copy of
  the v4 description lists 303, 400 and 404 as its only answers). Clio keeps files
  in a storage service that takes the signature in the URL and no Clio
  credentials, the way its upload ``put_url`` works ("A signed URL for uploading
  the file ... It expires in 10 minutes");
- ``/files/documents/{id}/versions/{version id}?X-Amz-Expires=600&X-Amz-Signature=...``
  serves the version's bytes in chunks; it refuses a request that carries an
  ``Authorization`` header (as a signed-URL store does: one auth mechanism at a
  time), a wrong signature (403) and a file made unavailable with
  :meth:`ClioDocuments.lose` (404).

Content is a function of ``(seed, document, version)`` and is generated while it
is sent, so a large file costs no memory. :meth:`ClioDocuments.replace` uploads a
new version: new content, size, version id and etag.
"""
from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any, Iterator, Optional

FILES_PATH = "/files/documents/"
#: chunk size of a served file
CHUNK = 64 * 1024
SIGNED_URL_TTL = 600

#: file names as users upload them: spaces, accents, other scripts, several dots
_NAMES = (
    ("Engagement letter {n}.pdf", "application/pdf"),
    ("Übergabeprotokoll – Café {n}.pdf", "application/pdf"),
    ("Scan 2024-03-{d:02d} (signed).pdf", "application/pdf"),
    ("Witness statement v{n}.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("写真 {n}.jpg", "image/jpeg"),
    ("Notes from call {n}.txt", "text/plain"),
    ("Invoice backup {n}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("Señora Núñez – référence {n}.png", "image/png"),
)


class ClioDocuments:
    """The ``documents`` resource of a :class:`~.clio.ClioAccount`."""

    def __init__(self, account: Any, count: int, seed: int, large_file: int = 0, uniform_size: int = 0):
        from .clio import _Collection  # the account's id bookkeeping

        self.account = account
        self.seed = seed
        self.documents = _Collection("documents", count, 8800001, 1)
        #: the size of the first document, when a test wants one large file
        self.large_file = large_file
        #: every document's size, when a benchmark wants files of one size
        self.uniform_size = uniform_size
        #: document id -> number of versions uploaded after the first
        self.replaced: dict[int, int] = {}
        #: document ids whose file the store no longer has
        self.lost: set[int] = set()
        self._secret = hashlib.sha256(f"clio-files-{seed}".encode()).digest()

    # -- records --------------------------------------------------------------
    def _rng(self, i: int, salt: str = "") -> random.Random:
        return random.Random(f"{self.seed}:{i}:{salt}")

    def version_number(self, record_id: int) -> int:
        return 1 + self.replaced.get(record_id, 0)

    def version_id(self, record_id: int, number: Optional[int] = None) -> int:
        return record_id * 100 + (number or self.version_number(record_id))

    def size(self, record_id: int, number: Optional[int] = None) -> int:
        i = self.documents.index(record_id)
        number = number or self.version_number(record_id)
        if i == 0 and self.large_file:
            return self.large_file + number - 1
        if self.uniform_size:
            return self.uniform_size + number - 1
        return 1 + self._rng(i, f"size{number}").randrange(200, 96 * 1024)

    def name_and_type(self, record_id: int) -> tuple[str, str]:
        i = self.documents.index(record_id)
        pattern, content_type = _NAMES[i % len(_NAMES)]
        return pattern.format(n=i + 1, d=1 + i % 28), content_type

    def record(self, record_id: int) -> dict[str, Any]:
        from .clio import _etag, _iso

        i = self.documents.index(record_id)
        rng = self._rng(i)
        account = self.account
        created = self.documents.created_ts(i)
        filename, content_type = self.name_and_type(record_id)
        number = self.version_number(record_id)
        on_matter = i % 3 != 2 and account.matters.count
        matter = contact = None
        if on_matter:
            mi = rng.randrange(account.matters.count)
            mid = account.matters.ids[mi]
            matter = {"id": mid, "display_number": f"{mi + 1:05d}", "etag": _etag("matters", mid, 0)}
        elif account.contacts.count:
            ci = rng.randrange(account.contacts.count)
            cid = account.contacts.ids[ci]
            name, ctype = account.contact_name(ci)
            contact = {"id": cid, "name": name, "type": ctype, "etag": _etag("contacts", cid, 0)}
        received = created if number == 1 else self.documents.updated_ts(record_id)
        version = {
            "id": self.version_id(record_id), "document_id": record_id,
            "etag": _etag("document_versions", record_id, number), "uuid": f"{record_id:08x}-{number:04x}",
            "created_at": _iso(received), "updated_at": _iso(received), "filename": filename,
            "size": self.size(record_id), "version_number": number, "content_type": content_type,
            "received_at": _iso(received), "put_url": "", "fully_uploaded": True,
        }
        return {
            "id": record_id, "type": "Document", "locked": False, "name": filename, "filename": filename,
            "size": version["size"], "content_type": content_type, "created_at": _iso(created),
            "received_at": version["received_at"], "deleted_at": None, "matter": matter, "contact": contact,
            "parent": {"id": 500000 + (matter or contact or {"id": 0})["id"] % 100000, "type": "Folder",
                       "name": "Documents", "root": False},
            "latest_document_version": version,
        }

    # -- content --------------------------------------------------------------
    def chunks(self, record_id: int, number: Optional[int] = None) -> Iterator[bytes]:
        """The bytes of version ``number`` (the latest by default), in chunks."""
        number = number or self.version_number(record_id)
        size = self.size(record_id, number)
        rng = random.Random(f"{self.seed}:{record_id}:{number}:content")
        sent = 0
        while sent < size:
            n = min(CHUNK, size - sent)
            yield rng.randbytes(n)
            sent += n

    def content(self, record_id: int, number: Optional[int] = None) -> bytes:
        """The whole content of a version, for comparing with what landed (small files only)."""
        return b"".join(self.chunks(record_id, number))

    def sha256(self, record_id: int, number: Optional[int] = None) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks(record_id, number):
            digest.update(chunk)
        return digest.hexdigest()

    # -- test controls -----------------------------------------------------------
    def replace(self, record_id: int) -> int:
        """A new version of the document is uploaded; returns its version number.
        The caller moves the document's ``updated_at`` (``ClioEmulator.touch``)."""
        if self.documents.index(record_id) < 0 or record_id not in self.documents.ids:
            raise KeyError(f"documents has no id {record_id}")
        self.replaced[record_id] = self.replaced.get(record_id, 0) + 1
        return self.version_number(record_id)

    def lose(self, record_id: int) -> None:
        """The file store answers 404 for this document's file."""
        self.lost.add(record_id)

    # -- HTTP ---------------------------------------------------------------------
    def _signature(self, record_id: int, version_id: int) -> str:
        return hmac.new(self._secret, f"{record_id}:{version_id}".encode(), hashlib.sha256).hexdigest()

    def download(self, emulator: Any, request: Any, record_id: int) -> Any:
        """``GET /api/v4/documents/{id}/download.json``: 303 to the signed URL of the version."""
        from .server import EmulatedResponse

        if record_id not in set(self.documents.ids):
            return emulator.error_response(404, f"No Document with id {record_id}")
        wanted = request.param("document_version_id")
        number = self.version_number(record_id)
        if wanted is not None:
            try:
                number = int(wanted) - record_id * 100
            except ValueError:
                return emulator.error_response(400, "document_version_id must be an integer")
            if not 1 <= number <= self.version_number(record_id):
                return emulator.error_response(404, f"No DocumentVersion with id {wanted} for this Document")
        version_id = self.version_id(record_id, number)
        location = (f"{emulator.base_url}{FILES_PATH}{record_id}/versions/{version_id}"
                    f"?X-Amz-Expires={SIGNED_URL_TTL}&X-Amz-Signature={self._signature(record_id, version_id)}")
        return EmulatedResponse(303, b"", {"Location": location})

    def serve(self, request: Any) -> Any:
        """The file store: the bytes of one version behind a signed URL."""
        from .server import EmulatedResponse

        def refuse(status: int, code: str) -> EmulatedResponse:
            return EmulatedResponse(status, f"<Error><Code>{code}</Code></Error>".encode(),
                                    {"Content-Type": "application/xml"})

        parts = request.path[len(FILES_PATH):].split("/")
        try:
            record_id, version_id = int(parts[0]), int(parts[2])
        except (IndexError, ValueError):
            return refuse(404, "NoSuchKey")
        if request.param("X-Amz-Signature") != self._signature(record_id, version_id):
            return refuse(403, "SignatureDoesNotMatch")
        if request.header("Authorization"):
            return refuse(400, "InvalidArgument")  # only one auth mechanism allowed
        if record_id in self.lost:
            return refuse(404, "NoSuchKey")
        number = version_id - record_id * 100
        _name, content_type = self.name_and_type(record_id)
        return EmulatedResponse(200, self.chunks(record_id, number), {"Content-Type": content_type})
