"""Files into ``ir.attachment``, streamed from the source into Odoo's storage.

The loader hands the records of an object map whose records are files
(``ObjectMap.file``: Clio documents, Cliniko patient attachments, the files of a
clinic export) to :class:`FileLanding`, after it has resolved their references
(``res_id``: the matter's lead, the contact's partner, the patient's lead) and
found which were migrated before.  :meth:`FileLanding.land` then, per file:

1. refuses a file whose announced size passes the size limit (system parameter
   ``flitstack_migration.max_file_size``, else Odoo's ``web.max_file_upload_size``,
   else 128 MB): a ``fail`` line that says what to do;
2. for a file migrated before, decides whether its content changed without
   downloading it: when the source gives a version (Clio: the latest document
   version's id and etag) equal to the one on the file's last audit line, and the
   attachment still holds the content that line recorded (Odoo's sha1 ``checksum``
   equals the line's), the content is unchanged.  Otherwise it is downloaded and
   compared (Cliniko gives no version that would show an attachment unchanged, and a
   clinic export's files are read locally: both are downloaded and hashed);
3. downloads the content in chunks of 256 KiB into a spool file beside the
   filestore, computing sha1 (Odoo's checksum, which names the stored file) and
   sha256 (kept on the audit line) as it goes; a download that fails, is cut short
   or passes the limit is a ``fail`` line with its reason, and the other files land;
4. creates the attachment (name, MIME type, parent record) through the ORM without
   content, then sets its content the way the database stores attachments
   (``ir_attachment.location``): on the filestore, the spool file is moved to
   ``<sha1[:2]>/<sha1>`` (Odoo's ``_get_path`` layout) and ``store_fname``,
   ``checksum``, ``file_size`` are written; in the database, the spool streams into
   a PostgreSQL large object (``lo_put`` per chunk) and ``db_datas = lo_get(...)``
   copies it server-side.
   Odoo's process holds one chunk at a time either way (PostgreSQL builds the value
   once in its own memory for ``lo_get``; reading a database-stored attachment later
   loads it whole, as for any such attachment).  Content is stored as it came: no
   image resizing, so the bytes are identical to the source's;
5. a changed file keeps its previous content for rollback in an attachment of the
   run (``res_model`` ``flitstack.run``) that points at the same stored file, and
   the ``update`` line names it; rollback puts that content back and removes the
   copy (:func:`restore_previous_content`);
6. writes the original creation date and the audit line: the source object and id
   (never the file's name), sha256 (``checksum``), Odoo's sha1 and the source's
   version.

Rollback deletes the attachments the run created; their stored files are marked
for Odoo's filestore garbage collection (``ir.attachment._gc_file_store``, run by
the daily autovacuum), which removes those no attachment references.
"""
import hashlib
import logging
import mimetypes
import os
import tempfile

import httpx
import psycopg2

from odoo.exceptions import UserError
from odoo.tools import mute_logger
from odoo.tools.mimetypes import guess_mimetype

from flitstack_connectors.errors import FlitstackError
from flitstack_connectors.records import Attachment

_logger = logging.getLogger(__name__)

#: bytes read from the source and written to storage at a time
CHUNK = 256 * 1024
SIZE_LIMIT_PARAM = "flitstack_migration.max_file_size"
ODOO_UPLOAD_LIMIT_PARAM = "web.max_file_upload_size"
#: Odoo's own default for web.max_file_upload_size
DEFAULT_SIZE_LIMIT = 128 * 1024 * 1024
SPOOL_DIR = "flitstack_spool"
#: text files up to this size get their words indexed, as Odoo indexes text attachments
INDEX_TEXT_LIMIT = 1024 * 1024
_STORAGE_COLUMNS = ("store_fname", "db_datas", "checksum", "file_size", "index_content")


def _megabytes(size):
    return f"{size / (1024 * 1024):.1f} MB"


class DownloadRefused(Exception):
    """A file that cannot land (too large, download failed); the message is the audit line's reason."""


class Spool:
    """A downloaded file in a temporary file, with its size and digests."""

    def __init__(self, path, size, sha1, sha256, head):
        self.path, self.size, self.sha1, self.sha256, self.head = path, size, sha1, sha256, head

    def discard(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class FileLanding:
    """Lands one batch of a file map for a :class:`~.loader.BatchLoader`."""

    def __init__(self, loader, model):
        self.loader = loader
        self.env = loader.env
        self.model = model

    # -- entry point --------------------------------------------------------------
    def land(self, to_create, to_update):
        """Audit lines for ``[(planned, vals, res_id)]`` to create and to update."""
        if not to_create and not to_update:
            return []
        self.limit = self._size_limit()
        self.storage = self.model._storage()
        previous = self._previous([rec.xmlid_name for rec, _v, _id in to_update])
        source = self.loader.connection._source()
        lines = []
        try:
            for rec, vals, res_id in to_update:
                lines += self._update_one(source, rec, dict(vals), res_id, previous.get(rec.xmlid_name))
            for rec, vals, _id in to_create:
                lines += self._create_one(source, rec, dict(vals))
        finally:
            source.close()
        return lines

    # -- settings -----------------------------------------------------------------
    def _size_limit(self):
        get = self.env["ir.config_parameter"].sudo().get_param
        name = SIZE_LIMIT_PARAM if get(SIZE_LIMIT_PARAM) else ODOO_UPLOAD_LIMIT_PARAM
        text = get(name) or DEFAULT_SIZE_LIMIT
        try:
            limit = int(text)
        except (TypeError, ValueError):
            limit = 0
        if limit < 1:
            raise UserError(f"System parameter {name} must be a number of bytes, not {text!r}: correct it and "
                            f"run again.")
        return limit

    def _too_large(self, size):
        return (f"the file is {_megabytes(size)}, above the size limit of {_megabytes(self.limit)}: raise the "
                f"system parameter {SIZE_LIMIT_PARAM} (bytes; without it Odoo's {ODOO_UPLOAD_LIMIT_PARAM} "
                f"applies) and run again, or attach the file by hand")

    # -- what landed before ---------------------------------------------------------
    def _previous(self, names):
        """``{xmlid name: (sha256, sha1, version)}`` from each file's latest audit line
        with a checksum, of runs of this connection not rolled back."""
        if not names:
            return {}
        module = self.loader.module
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT DISTINCT ON (l.xmlid) l.xmlid, l.checksum, l.content_sha1, l.source_version "
            "FROM flitstack_audit_line l JOIN flitstack_run r ON r.id = l.run_id "
            "WHERE r.connection_id = %s AND r.state != 'rolled_back' AND l.rolled_back IS NOT TRUE "
            "AND l.continuation IS NOT TRUE AND l.model = %s AND l.checksum IS NOT NULL AND l.xmlid = ANY(%s) "
            "ORDER BY l.xmlid, l.id DESC",
            [self.loader.connection.id, self.model._name, [f"{module}.{n}" for n in names]])
        return {xmlid.split(".", 1)[1]: (sha256, sha1, version)
                for xmlid, sha256, sha1, version in self.env.cr.fetchall()}

    # -- one file -------------------------------------------------------------------
    @staticmethod
    def _file(rec):
        file = rec.file
        if file is None:
            return None
        return file if isinstance(file, Attachment) else Attachment.model_validate(file)

    def _line(self, rec, operation, *, spool=None, known=None, version=None, **kw):
        line = self.loader._line(rec, operation, model=self.model._name, **kw)
        sha256, sha1 = (spool.sha256, spool.sha1) if spool is not None else (known or (None, None))
        line.update(checksum=sha256, content_sha1=sha1, source_version=version)
        return line

    def _create_one(self, source, rec, vals):
        file = self._file(rec)
        if file is None:
            return [self._line(rec, "fail", message=f"{rec.source_object} record {rec.source_id} names no file")]
        if file.size and file.size > self.limit:
            return [self._line(rec, "fail", message=self._too_large(file.size), version=file.version)]
        try:
            spool = self._download(source, file)
        except DownloadRefused as refused:
            return [self._line(rec, "fail", message=str(refused), version=file.version)]
        create_date = vals.pop("create_date", None)
        vals.setdefault("type", "binary")
        vals["name"] = vals.get("name") or file.filename
        vals["mimetype"] = self._mimetype(vals, file, spool)
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                record = self.model.create(vals)
                self._store(record, spool)
        except (DownloadRefused, *self.loader_errors()) as exc:
            spool.discard()
            self.env.clear()
            reason = str(exc) if isinstance(exc, DownloadRefused) else self._safe_reason(exc, vals)
            return [self._line(rec, "fail", message=reason, version=file.version)]
        self.loader._register_xmlids(self.model, [(rec.xmlid_name, record.id)])
        if create_date:
            self.loader._write_create_dates(self.model, [(record.id, create_date)])
        return [self._line(rec, "create", res_id=record.id, spool=spool, version=file.version)]

    def _update_one(self, source, rec, vals, res_id, previous):
        file = self._file(rec)
        record = self.model.browse(res_id)
        vals.pop("create_date", None)
        if file is None:
            return [self._line(rec, "fail", res_id=res_id,
                               message=f"{rec.source_object} record {rec.source_id} names no file")]
        held = record.checksum or None  # Odoo's sha1 of what the attachment holds now
        trusted = previous is not None and previous[1] == held
        spool = None
        if trusted and file.version and previous[2] == file.version:
            known, how = (previous[0], held), "the source's version is the one migrated"
        else:
            if file.size and file.size > self.limit:
                return [self._line(rec, "fail", res_id=res_id, message=self._too_large(file.size),
                                   version=file.version)]
            try:
                spool = self._download(source, file)
            except DownloadRefused as refused:
                return [self._line(rec, "fail", res_id=res_id, message=str(refused), version=file.version)]
            if spool.sha1 == held:
                spool.discard()
                known, how, spool = (spool.sha256, spool.sha1), "the content is the one migrated", None
            else:
                known, how = None, None
        if spool is not None and not vals.get("mimetype"):
            vals["mimetype"] = self._mimetype(vals, file, spool)
        vals["name"] = vals.get("name") or file.filename
        old, changed = self.loader._diff(record, vals)
        if spool is None and not changed:
            return [self._line(rec, "skip", res_id=res_id, known=known, version=file.version,
                               message=f"unchanged since it was last migrated ({how})")]
        lines = []
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                if changed:
                    record.write(changed)
                if spool is not None:
                    backup_id = self._keep_previous(record)
                    old["__file__"] = {"backup_id": backup_id, "checksum": held}
                    self._store(record, spool)
        except (DownloadRefused, *self.loader_errors()) as exc:
            if spool is not None:
                spool.discard()
            self.env.clear()
            reason = str(exc) if isinstance(exc, DownloadRefused) else self._safe_reason(exc, vals)
            return [self._line(rec, "fail", res_id=res_id, message=reason, version=file.version)]
        if spool is not None:
            # before the update line: rollback, walking backwards, restores from it, then removes it
            backup = self._line(rec, "create", res_id=backup_id, message=(
                f"previous content of {self.model._name} {res_id}, kept so that rollback can restore it"))
            backup.update(xmlid=False, continuation=True, sample_trace=False)
            lines.append(backup)
        lines.append(self._line(rec, "update", res_id=res_id, old_values=old, spool=spool, known=known,
                                version=file.version,
                                message="new content" if spool is not None else None))
        return lines

    @staticmethod
    def loader_errors():
        from .loader import _RECORD_ERRORS
        return _RECORD_ERRORS

    def _safe_reason(self, exc, vals):
        from .loader import safe_reason
        return safe_reason(exc, vals.values(), self.model)

    @staticmethod
    def _mimetype(vals, file, spool):
        return (vals.get("mimetype") or file.mimetype or mimetypes.guess_type(vals.get("name") or file.filename)[0]
                or guess_mimetype(spool.head))

    # -- transfer -------------------------------------------------------------------
    def _spool_dir(self):
        if self.storage == "db":
            return tempfile.gettempdir()
        directory = os.path.join(self.model._filestore(), SPOOL_DIR)
        os.makedirs(directory, exist_ok=True)
        return directory

    def _download(self, source, file):
        """The file's content in a spool file; raises :class:`DownloadRefused`."""
        what = f"{file.source_id}"
        fd, path = tempfile.mkstemp(dir=self._spool_dir(), prefix="download-")
        sha1, sha256 = hashlib.sha1(), hashlib.sha256()
        size, head = 0, b""
        try:
            with os.fdopen(fd, "wb") as out, source.open_attachment(file) as stream:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.limit:
                        raise DownloadRefused(self._too_large(size) + " (the source did not announce its size)")
                    if len(head) < 2048:
                        head += chunk[:2048 - len(head)]
                    sha1.update(chunk)
                    sha256.update(chunk)
                    out.write(chunk)
        except DownloadRefused:
            os.unlink(path)
            raise
        except FlitstackError as exc:
            os.unlink(path)
            raise DownloadRefused(f"the download failed: {exc}") from None
        except (OSError, httpx.HTTPError) as exc:
            os.unlink(path)
            raise DownloadRefused(f"the download of file {what} failed ({type(exc).__name__}): check that the "
                                  f"source still holds it and run again") from None
        if file.size is not None and size != file.size:
            os.unlink(path)
            raise DownloadRefused(f"the download gave {size} bytes where the source announced {file.size}: the "
                                  f"transfer was cut short; run again")
        return Spool(path, size, sha1.hexdigest(), sha256.hexdigest(), head)

    def _index_content(self, spool, mimetype):
        if mimetype and mimetype.startswith("text") and spool.size <= INDEX_TEXT_LIMIT:
            with open(spool.path, "rb") as fh:
                return self.model._index(fh.read(), mimetype)
        return (mimetype or "application").split("/")[0]

    def _store(self, record, spool):
        """Give ``record`` the spool's content, the way this database stores attachments."""
        cr = self.env.cr
        index = self._index_content(spool, record.mimetype)
        if self.storage == "db":
            # a large object filled chunk by chunk (lo_put), copied into the row server-side
            cr.execute("SELECT lo_create(0)")
            oid = cr.fetchone()[0]
            offset = 0
            with open(spool.path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    cr.execute("SELECT lo_put(%s, %s, %s)", [oid, offset, psycopg2.Binary(chunk)])
                    offset += len(chunk)
            spool.discard()
            cr.execute("UPDATE ir_attachment SET db_datas = lo_get(%s), store_fname = NULL, checksum = %s, "
                       "file_size = %s, index_content = %s WHERE id = %s",
                       [oid, spool.sha1, spool.size, index, record.id])
            cr.execute("SELECT lo_unlink(%s)", [oid])
        else:
            fname = f"{spool.sha1[:2]}/{spool.sha1}"
            full_path = self.model._full_path(fname)
            os.makedirs(os.path.dirname(full_path), exist_ok=True)
            if os.path.exists(full_path):
                if os.path.getsize(full_path) != spool.size:
                    spool.discard()
                    raise DownloadRefused("the file's sha1 collides with another stored file of another size")
                spool.discard()  # the same content is stored already: attachments share it
            else:
                os.replace(spool.path, full_path)
            # as Odoo's _file_write: collected by the filestore GC if this transaction does not commit
            self.model._mark_for_gc(fname)
            cr.execute("UPDATE ir_attachment SET store_fname = %s, db_datas = NULL, checksum = %s, file_size = %s, "
                       "index_content = %s WHERE id = %s", [fname, spool.sha1, spool.size, index, record.id])
        record.invalidate_recordset([*_STORAGE_COLUMNS, "raw", "datas"])

    def _keep_previous(self, record):
        """An attachment of the run holding ``record``'s present content (the same
        stored file or database value, not a copy in memory); returns its id."""
        self.env.flush_all()
        run = self.loader.run
        self.env.cr.execute(
            "INSERT INTO ir_attachment (name, description, res_model, res_id, type, mimetype, public, company_id, "
            f"{', '.join(_STORAGE_COLUMNS)}, create_uid, write_uid, create_date, write_date) "
            "SELECT %s, %s, 'flitstack.run', %s, type, mimetype, false, company_id, "
            f"{', '.join(_STORAGE_COLUMNS)}, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC' "
            "FROM ir_attachment WHERE id = %s RETURNING id",
            [f"Previous content of attachment {record.id}",
             f"Kept by migration run {run.id} so that rolling it back restores attachment {record.id}.",
             run.id, self.env.uid, self.env.uid, record.id])
        return self.env.cr.fetchone()[0]


def restore_previous_content(model, line):
    """Rollback of an ``update`` line of a file: the metadata the run changed and the
    content it replaced come back (from the run's copy of the previous content, which
    rollback removes next); the replaced content is left to the filestore GC."""
    record = model.browse(line.res_id).exists()
    if not record:
        return False
    old = {k: v for k, v in (line.old_values or {}).items() if not k.startswith("__")}
    if old:
        record.write(old)
    backup_id = line.old_values["__file__"]["backup_id"]
    replaced = record.store_fname
    model.env.flush_all()
    model.env.cr.execute(
        f"UPDATE ir_attachment AS t SET {', '.join(f'{c} = b.{c}' for c in _STORAGE_COLUMNS)} "
        "FROM ir_attachment AS b WHERE b.id = %s AND t.id = %s RETURNING t.store_fname",
        [backup_id, record.id])
    restored = model.env.cr.fetchone()
    if replaced and (not restored or restored[0] != replaced):
        model._mark_for_gc(replaced)
    record.invalidate_recordset([*_STORAGE_COLUMNS, "raw", "datas"])
    return True
