"""Load planned records into Odoo: one batch, one transaction, one audit line per record.

The pipeline of :meth:`BatchLoader.load`:

1. Parse the batch (at most 500 planned records of one object map) and turn
   records that already carry errors (unreadable source rows, failed
   transforms) into ``fail`` lines.
2. Find which records exist already, by external id
   ``flitstack_<connection id>.<source object>_<source id>``; a dangling
   external id (its record was deleted in Odoo) is dropped and the record is
   created again.
3. Resolve references in bulk: other migrated records by external id, source
   staff through the connection's staff table (email match or fallback owner),
   existing Odoo records by XML id, by name or by email (users, then partners).
4. Compare the values of existing records with the planned ones: equal ones
   become ``skip`` lines, the others are written and their old values kept on
   their ``update`` line so that rollback can write them back.
5. Create the new records in one ``create`` call with tracking, chatter and
   subscriptions off.  If the batch fails, roll back to a savepoint and create
   them one by one, each in its own savepoint, so that one bad record ends as a
   ``fail`` line with its reason and the rest of the batch lands.
   Records of maps that land with their parent (``with_parent``: a bill's time
   entries, tax and discount lines) and that the run staged are created inside
   their new parent's ``create`` (as ``invoice_line_ids`` of the invoice), each
   with its own external id and audit line, and marked ``landed`` so that their
   own batch passes them over; Odoo then builds an invoice once, not once per
   batch of its lines.  A parent that fails with its children is created
   without them, and the children load in their own batch, each with its own
   outcome.
6. Register the external ids, write original create dates, and insert the
   audit lines, all in bulk.

Text fields of HTML type receive plain text as HTML (paragraphs and line
breaks kept).  A message body longer than the system parameter
``flitstack_migration.message_body_limit`` (10,000 characters) lands as
several messages, "Part 1 of n" to "Part n of n", each with its own external id
``<name>_part<k>`` and audit line (marked ``continuation``, so that
reconciliation still counts one line per source record); parts a shorter
version of the note no longer needs are deleted, their values kept on their
line so that rollback brings them back.  Nothing is cut.

Reasons on ``fail`` lines name fields and problems; values of the record are
masked, so no personal data reaches the audit log.
"""
import logging
import re

import psycopg2
from psycopg2.extras import Json

from odoo import Command, fields
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.tools import mute_logger

from flitstack_connectors.plan import children_of
from flitstack_connectors.records import PlannedRecord, Ref, external_id_name

from ..models.crm_lead import SCORING_RUN_KEY
from .attachments import FileLanding
from .html_parts import as_html, split_html

_logger = logging.getLogger(__name__)

LOAD_CONTEXT = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "active_test": False,
    "import_file": True,
    # an activity assigned to someone else would mail them a notification
    "mail_activity_quick_update": True,
    # a migrated meeting invites no attendee and sets up no reminder (calendar)
    "no_mail_to_attendees": True,
    "dont_notify": True,
    # nor does a user assigned to a record (a project task) hear of it
    "mail_auto_subscribe_no_notify": True,
}

#: text fields split over several records when longer than the body limit, never cut
SPLIT_FIELDS = {"mail.message": "body"}
BODY_LIMIT_PARAM = "flitstack_migration.message_body_limit"
DEFAULT_BODY_LIMIT = 10000

#: records Odoo creates together with a record of a model (a bank journal opens its
#: own bank account in the chart of accounts): audited so that rollback removes them
CREATED_WITH = {"account.journal": ("account.account",)}

#: values written once, when the record is created, and never compared
CREATE_ONLY_FIELDS = ("create_date",)
#: fields written right after the record is created, not with it: a meeting created with
#: its opportunity makes crm post "Meeting scheduled" in the lead's chatter
WRITTEN_AFTER_CREATE = {"calendar.event": ("opportunity_id",)}
SOURCE_REF_FIELD = "x_flitstack_source_ref"

_RECORD_ERRORS = (ValidationError, UserError, AccessError, MissingError, ValueError, TypeError,
                  psycopg2.IntegrityError, psycopg2.DataError, psycopg2.InternalError)
_EMAIL = re.compile(r"[^@\s'\"()<>]+@[^@\s'\"()<>]+")


def safe_reason(exc, values=(), model=None):
    """A failure reason without personal data: the error's first line with any
    value of the record and any email address masked.  A violated SQL
    constraint of ``model`` is named by the message its model declares."""
    if isinstance(exc, psycopg2.Error) and getattr(exc, "diag", None) is not None:
        diag = exc.diag
        text = diag.message_primary or type(exc).__name__
        if diag.constraint_name:
            declared = next((str(message) for key, _definition, message in (model._sql_constraints if model is not None else ())
                             if f"{model._table}_{key}" == diag.constraint_name), None)
            text = f"{declared} (constraint {diag.constraint_name})" if declared else \
                f"{text} (constraint {diag.constraint_name})"
    else:
        text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = (text or type(exc).__name__).strip().splitlines()[0][:500]
    for value in sorted({str(v) for v in values if isinstance(v, (str, int, float)) and len(str(v)) >= 3},
                        key=len, reverse=True):
        text = text.replace(value, "«value»")
    return _EMAIL.sub("«email»", text)


def _parse(data):
    """A PlannedRecord from its JSON form in a job's arguments.  The payload was
    built and validated by ``apply_object_map`` when the job was enqueued, so it
    is constructed without validating it again (a third of a batch's time)."""
    data = dict(data)
    data["refs"] = {k: Ref.model_construct(**v) for k, v in (data.get("refs") or {}).items()}
    data["many_refs"] = {k: [Ref.model_construct(**r) for r in v] for k, v in (data.get("many_refs") or {}).items()}
    return PlannedRecord.model_construct(**data)


class MessagePart(PlannedRecord):
    """Part ``part`` (2 and up) of a source record whose text was split; known
    by the external id of the first part followed by ``_part<k>``."""

    part_of: str = ""
    part: int = 0

    @property
    def xmlid_name(self) -> str:
        return f"{self.part_of}_part{self.part}"


class ChildrenMismatch(ValueError):
    """A parent created with its children does not hold exactly the children planned."""


class StagedChild:
    """A staged record of a ``with_parent`` map, ready to be created inside its
    parent's create: its staged row, planned record, create values, create-only
    values written afterwards, model and the parent's one2many that takes it."""

    __slots__ = ("row_id", "rec", "vals", "orig", "model", "field")

    def __init__(self, row_id, rec, vals, orig, model, field):
        self.row_id, self.rec, self.vals, self.orig, self.model, self.field = row_id, rec, vals, orig, model, field


def currency_usable(currency, company):
    """Whether records can be in ``currency``: the company's own currency, or an active
    currency with a rate (Odoo would otherwise convert its amounts at 1:1)."""
    if currency == company.currency_id:
        return True
    return bool(currency.active and currency.sudo().rate_ids)


def _like_prefix(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class BatchLoader:
    """Loads batches of planned records for one run."""

    def __init__(self, run):
        self.run = run
        self.env = run.env
        self.connection = run.connection_id
        self.module = self.connection.xmlid_module
        self._xmlid_cache = {}
        self._name_cache = {}
        #: external id names registered on records that existed before the run
        self._adopted = set()

    # -- entry point ----------------------------------------------------------
    def load(self, map_name, model_name, payload):
        """Load one batch; returns ``{operation: count}``."""
        planned = [_parse(p) for p in payload]
        if model_name not in self.env:
            # a map onto an app that is not installed (invoices -> Sales): reported, never dropped
            reason = (f"not migrated: {model_name} is not installed in this database; install its app "
                      f"and run again to migrate these records")
            lines = [self._line(rec, "skip", message=reason) for rec in planned]
            self._write_audit(lines)
            return {"skip": len(lines)} if lines else {}
        # crm's lead-scoring increments wait for the run's end (services/scoring.py): batches
        # loading at once would otherwise update the same frequency rows
        model = self.env[model_name].with_context(**LOAD_CONTEXT, **{SCORING_RUN_KEY: self.run.id})
        om = self.run._spec().object_map(map_name)
        if om.unless_installed and om.unless_installed in self.env:
            # a fallback map (tasks as activities where Project is missing): another map lands these
            reason = f"not migrated by this map: {om.unless_installed} is installed, and another map lands these records there"
            lines = [self._line(rec, "skip", message=reason) for rec in planned]
            self._write_audit(lines)
            return {"skip": len(lines)} if lines else {}
        self._required = {row.target for row in om.lookups if row.required}
        lines = []
        ready = []
        seen = set()
        for rec in planned:
            name = rec.xmlid_name
            if rec.errors:
                lines.append(self._line(rec, "fail", message="; ".join(rec.errors)))
            elif name in seen:
                lines.append(self._line(rec, "fail", message="the same source id appears twice in this batch"))
            else:
                seen.add(name)
                ready.append(rec)
        unknown = sorted({f for rec in ready for f in (*rec.values, *rec.refs, *rec.many_refs)
                          if f not in model._fields})
        if unknown:
            reason = (f"{model_name} has no field {', '.join(unknown)}: create the map's custom fields "
                      f"(Provision fields on the map) and run again")
            lines.extend(self._line(rec, "fail", message=reason) for rec in ready)
            ready = []
        ready = self._split_long_texts(model, ready)
        existing = self._existing(model, [rec.xmlid_name for rec in ready])
        refs = self._resolve_refs(ready)
        to_create, to_update = [], []
        for rec in ready:
            vals, notes, errors = self._vals(model, rec, refs)
            if errors:
                lines.append(self._line(rec, "fail", message="; ".join(errors)))
                continue
            rec.notes.extend(notes)
            res_id = existing.get(rec.xmlid_name)
            (to_update if res_id else to_create).append((rec, vals, res_id))
        if om.match_on and to_create:
            adopted, to_create = self._adopt(model, om.match_on, to_create)
            to_update += adopted
        lines += self._drop_stale_parts(model, ready)
        if om.file:
            # files stream from the source into Odoo's storage (services/attachments.py)
            lines += FileLanding(self, model).land(to_create, to_update)
        else:
            lines += self._update(model, to_update)
            lines += self._create(model, to_create, self._staged_children(om, model, to_create))
        self._write_audit(lines)
        counts = {}
        for line in lines:
            key = f"{line['operation']} (part)" if line["continuation"] else line["operation"]
            if line["map_name"] != map_name:
                # records of another map created with these (a bill's lines, with_parent)
                key = f"{key} ({line['map_name']})"
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- long texts -------------------------------------------------------------
    def _body_limit(self):
        text = self.env["ir.config_parameter"].sudo().get_param(BODY_LIMIT_PARAM, DEFAULT_BODY_LIMIT)
        try:
            limit = int(text)
        except (TypeError, ValueError):
            limit = 0
        if limit < 1000:
            raise UserError(f"System parameter {BODY_LIMIT_PARAM} must be a number of characters of at least "
                            f"1000, not {text!r}: correct it and run again.")
        return limit

    def _split_long_texts(self, model, ready):
        """Records whose text is longer than the body limit, followed by their
        :class:`MessagePart` records; remembers how many parts each record has."""
        self._parts = {}
        fname = SPLIT_FIELDS.get(model._name)
        if not fname or fname not in model._fields or not ready:
            return ready
        limit = self._body_limit()
        out = []
        for rec in ready:
            out.append(rec)
            self._parts[rec.xmlid_name] = 1
            text = rec.values.get(fname)
            if not isinstance(text, str) or not text:
                continue
            body = as_html(text)
            parts = split_html(body, limit)
            rec.values[fname] = parts[0]
            if len(parts) == 1:
                continue
            self._parts[rec.xmlid_name] = len(parts)
            rec.notes.append(f"{fname}: {len(body):,} characters, split into {len(parts)} messages of at most "
                             f"{limit:,} characters")
            base = dict(rec)
            for k, part in enumerate(parts[1:], start=2):
                out.append(MessagePart.model_construct(**{
                    **base, "values": {**rec.values, fname: part},
                    "notes": [f"{fname}: part {k} of {len(parts)}"], "part_of": rec.xmlid_name, "part": k}))
        return out

    def _drop_stale_parts(self, model, ready):
        """Delete the parts of earlier runs that a record's text no longer needs
        (the note became shorter); their values stay on their line for rollback."""
        if not getattr(self, "_parts", None):
            return []
        mains = {rec.xmlid_name: rec for rec in ready if not isinstance(rec, MessagePart)}
        self.env.cr.execute(
            "SELECT name, res_id FROM ir_model_data WHERE module = %s AND model = %s AND name LIKE ANY(%s)",
            [self.module, model._name, [_like_prefix(name) + "\\_part%" for name in mains]])
        stale = []
        for name, res_id in self.env.cr.fetchall():
            base, _sep, k = name.rpartition("_part")
            if base in mains and k.isdigit() and int(k) > self._parts.get(base, 1):
                stale.append((mains[base], int(k), name, res_id))
        if not stale:
            return []
        lines = []
        alive = model.browse([res_id for *_x, res_id in stale]).exists()
        for rec, k, _name, res_id in sorted(stale, key=lambda s: (s[0].xmlid_name, s[1])):
            part = MessagePart.model_construct(**{**dict(rec), "notes": [], "part_of": rec.xmlid_name, "part": k})
            record = alive.browse(res_id) if res_id in alive.ids else None
            kept = [f for f in (*rec.values, *rec.refs, *rec.many_refs)
                    if f in model._fields and f not in CREATE_ONLY_FIELDS]
            old = {f: self._write_format(record, f) for f in kept} if record else {}
            lines.append(self._line(part, "update", res_id=res_id, old_values={"__deleted__": old},
                                    message=f"part {k} is no longer needed (the text is shorter now): deleted"))
        alive.unlink()
        self.env.cr.execute("DELETE FROM ir_model_data WHERE module = %s AND model = %s AND name = ANY(%s)",
                            [self.module, model._name, [name for _r, _k, name, _id in stale]])
        return lines

    # -- audit ------------------------------------------------------------------
    def _line(self, rec, operation, res_id=False, message=None, old_values=None, model=None):
        notes = list(rec.notes)
        if message:
            notes.insert(0, message)
        return {
            "run_id": self.run.id,
            "map_name": rec.map_name,
            "source_object": rec.source_object,
            "source_id": rec.source_id,
            "row_number": rec.row_number or False,
            "model": model or rec.model,
            "res_id": res_id or False,
            "xmlid": f"{self.module}.{rec.xmlid_name}",
            "operation": operation,
            "old_values": old_values or False,
            "message": "; ".join(notes) or False,
            "adopted": rec.xmlid_name in self._adopted,
            "continuation": isinstance(rec, MessagePart),
            "sample_trace": self._sample_trace(rec),
        }

    @staticmethod
    def _sample_trace(rec):
        """For sample runs: per target field, the source path and value and what the map made of it."""
        trace = getattr(rec, "trace", None)
        if not trace:
            return False
        out = {}
        for target, origin in trace.items():
            if target in rec.refs:
                mapped = rec.refs[target].key
            elif target in rec.many_refs:
                mapped = [ref.key for ref in rec.many_refs[target]]
            else:
                mapped = rec.values.get(target)
            out[target] = dict(origin, mapped=mapped)
        return out

    _AUDIT_COLUMNS = ("run_id", "map_name", "source_object", "source_id", "row_number", "model", "res_id",
                      "xmlid", "operation", "old_values", "message", "adopted", "continuation", "sample_trace",
                      "checksum", "content_sha1", "source_version")

    def _write_audit(self, lines):
        """Insert a batch's audit lines in one statement.  They are written once and
        never changed, so the ORM's per-record work (caches, access checks on a
        model only this code writes) buys nothing here."""
        if not lines:
            return
        now = fields.Datetime.now()
        uid = self.env.uid
        def column_value(column, value):
            if column in ("row_number", "res_id"):
                return int(value or 0)  # as the ORM stores an empty integer
            if column in ("adopted", "continuation"):
                return bool(value)
            if column in ("old_values", "sample_trace"):
                return Json(value) if value else None
            return value or None

        rows = [tuple(column_value(c, line.get(c)) for c in self._AUDIT_COLUMNS) + (False, uid, uid, now, now)
                for line in lines]
        columns = ", ".join(self._AUDIT_COLUMNS + ("rolled_back", "create_uid", "write_uid", "create_date",
                                                    "write_date"))
        placeholder = "(" + ", ".join(["%s"] * (len(self._AUDIT_COLUMNS) + 5)) + ")"
        self.env.cr.execute(
            f"INSERT INTO flitstack_audit_line ({columns}) VALUES {', '.join([placeholder] * len(rows))}",
            [value for row in rows for value in row])
        self.env["flitstack.audit.line"].invalidate_model()
        self.env["flitstack.run.object"].invalidate_model()

    # -- identity -----------------------------------------------------------------
    def _existing(self, model, names):
        """``{xmlid name: res_id}`` of records migrated earlier that still exist."""
        if not names:
            return {}
        self.env.cr.execute(
            "SELECT name, res_id FROM ir_model_data WHERE module = %s AND model = %s AND name = ANY(%s)",
            [self.module, model._name, names])
        found = dict(self.env.cr.fetchall())
        alive = set(model.browse(list(found.values())).exists().ids)
        dangling = [n for n, rid in found.items() if rid not in alive]
        if dangling:
            self.env.cr.execute("DELETE FROM ir_model_data WHERE module = %s AND name = ANY(%s)",
                                [self.module, dangling])
            self.env.registry.clear_cache()
        return {n: rid for n, rid in found.items() if rid in alive}

    def _adopt(self, model, match_on, items):
        """Split new records into those matching an existing record on ``match_on``
        (adopted: compared and updated like migrated ones, their external id
        registered) and those to create."""
        domain = [(f, "in", list({vals.get(f) for _rec, vals, _ in items if vals.get(f)})) for f in match_on]
        found = {}
        for record in model.search(domain, order="id"):
            found.setdefault(tuple(record[f] for f in match_on), record.id)
        adopted, rest = [], []
        taken = set()
        for rec, vals, _res_id in items:
            res_id = found.get(tuple(vals.get(f) for f in match_on))
            if res_id and res_id not in taken:
                taken.add(res_id)
                rec.notes.append(f"matched the existing {model._name} {res_id} on {', '.join(match_on)}")
                self._adopted.add(rec.xmlid_name)
                adopted.append((rec, vals, res_id))
            else:
                rest.append((rec, vals, False))
        self._register_xmlids(model, [(rec.xmlid_name, res_id) for rec, _v, res_id in adopted])
        return adopted, rest

    def _register_xmlids(self, model, pairs):
        """Insert external ids for ``[(name, res_id)]`` in one statement."""
        if not pairs:
            return
        now = fields.Datetime.now()
        uid = self.env.uid
        rows = [(self.module, name, model._name, res_id, True, uid, uid, now, now) for name, res_id in pairs]
        placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(rows))
        self.env.cr.execute(
            "INSERT INTO ir_model_data (module, name, model, res_id, noupdate, create_uid, write_uid, create_date, write_date) "
            f"VALUES {placeholders} ON CONFLICT (module, name) DO UPDATE SET res_id = EXCLUDED.res_id, model = EXCLUDED.model",
            [v for row in rows for v in row])

    # -- references ---------------------------------------------------------------------
    def _resolve_refs(self, planned):
        """Resolve every record reference of the batch in one query, and staff once."""
        names = {external_id_name(ref.object, ref.key)
                 for rec in planned
                 for ref in [*rec.refs.values(), *(r for refs in rec.many_refs.values() for r in refs)]
                 if ref.kind == "record"}
        records = {}
        if names:
            self.env.cr.execute(
                "SELECT name, res_id FROM ir_model_data WHERE module = %s AND name = ANY(%s)",
                [self.module, list(names)])
            records = dict(self.env.cr.fetchall())
        return {"record": records, "user": self.connection._staff_user_map(),
                "failed": self._failed_in_run(names - set(records))}

    def _failed_in_run(self, names):
        """Those of the external id ``names`` whose record failed to load in this run."""
        if not names:
            return set()
        self.env.cr.execute(
            "SELECT DISTINCT xmlid FROM flitstack_audit_line WHERE run_id = %s AND operation = 'fail' AND xmlid = ANY(%s)",
            [self.run.id, [f"{self.module}.{name}" for name in names]])
        return {row[0].partition(".")[2] for row in self.env.cr.fetchall()}

    def _ref_id(self, model, fname, ref, refs, country_id=False):
        """``(res_id or False, note or None, error or None)`` for one reference.  A state
        (``res.country.state``) is found by name or code within the record's country
        (``country_id``, resolved before it): "TX", "Texas" and "NSW" all find their state."""
        if ref.kind == "record":
            name = external_id_name(ref.object, ref.key)
            res_id = refs["record"].get(name)
            if res_id:
                return res_id, None, None
            if name in refs.get("failed", ()):
                # named by source id and external id: its own audit line says why it failed
                return False, None, (f"{fname}: the referenced {ref.object} record {ref.key} "
                                     f"({self.module}.{name}) failed to load in this run")
            return False, None, f"{fname}: the referenced {ref.object} record {ref.key} has not been migrated"
        if ref.kind == "user":
            fallback = self.connection.fallback_user_id.id
            user_id, how = refs["user"].get(ref.key, (fallback, "fallback") if fallback else (False, "none"))
            if user_id and model._fields[fname].comodel_name == "res.partner":
                # a message's author, a follower ...: the user's partner
                user_id = self._user_partner(user_id)
            if how == "fallback":
                return user_id, f"{fname}: source staff {ref.key} has no Odoo user; the fallback owner was used", None
            if not user_id:
                return False, f"{fname}: source staff {ref.key} has no Odoo user; left empty", None
            return user_id, None, None
        if ref.kind == "email":
            return self._email_ref(model, fname, ref)
        comodel = self.env[model._fields[fname].comodel_name]
        if ref.kind == "xmlid":
            key = ("xmlid", ref.key)
            if key not in self._xmlid_cache:
                record = self.env.ref(ref.key, raise_if_not_found=False)
                self._xmlid_cache[key] = record.id if record and record._name == comodel._name else False
            res_id = self._xmlid_cache[key]
            if not res_id:
                return False, None, f"{fname}: no {comodel._name} with XML id {ref.key}"
            return res_id, None, None
        key = (comodel._name, ref.key.casefold())
        if comodel._name == "res.country.state":
            key += (country_id,)
        if key not in self._name_cache:
            domain = [("name", "=ilike", ref.key)]
            if comodel._name == "res.country":
                domain = ["|", ("name", "=ilike", ref.key), ("code", "=ilike", ref.key)]
            elif comodel._name == "res.country.state":
                # a state's code repeats across countries (CO is Colorado and Como): only within one
                domain = ["|", ("name", "=ilike", ref.key), ("code", "=ilike", ref.key)] if country_id else domain
                if country_id:
                    domain = [("country_id", "=", country_id)] + domain
            found = comodel.with_context(active_test=False).search(domain, limit=1)
            self._name_cache[key] = found.id or False
            if found and comodel._name == "res.currency" and not currency_usable(found, self.env.company):
                self._name_cache[key] = ("unusable", found.name)
        res_id = self._name_cache[key]
        if isinstance(res_id, tuple):
            # an inactive currency or one without a rate is activated by the admin, not by a run
            # (pre-flight names it): the record keeps its amounts in the company currency
            return False, (f"{fname}: currency {res_id[1]} is not active or has no rate in Odoo; the record is in "
                           f"the company currency with its amounts as exported and the source's currency code kept "
                           f"beside it: activate {res_id[1]} and set its rate (Accounting > Configuration > "
                           f"Currencies), then run again"), None
        if not res_id:
            if comodel._name == "res.currency":
                return False, (f"{fname}: no currency has the source's code; the record is in the company currency "
                               f"with its amounts as exported and the code kept beside it"), None
            return False, f"{fname}: no {comodel._name} matches the source value; left empty", None
        return res_id, None, None

    def _email_ref(self, model, fname, ref):
        """The user whose login or email is the reference's key (for a partner field,
        the user's partner), else the first partner with that email, active ones first."""
        comodel_name = model._fields[fname].comodel_name
        email = ref.key.strip()
        key = ("email", comodel_name, email.casefold())
        if key not in self._name_cache:
            pattern = _like_prefix(email)
            user = self.env["res.users"].sudo().with_context(active_test=False).search(
                ["|", ("login", "=ilike", pattern), ("email", "=ilike", pattern)], order="active desc, id", limit=1)
            if comodel_name == "res.users" or user:
                found = user.id if comodel_name == "res.users" else user.partner_id.id
            else:
                found = self.env["res.partner"].with_context(active_test=False).search(
                    [("email", "=ilike", pattern)], order="active desc, id", limit=1).id
            self._name_cache[key] = found or False
        res_id = self._name_cache[key]
        if not res_id:
            return False, f"{fname}: no {comodel_name} has the source's email address; left out", None
        return res_id, None, None

    def _user_partner(self, user_id):
        key = ("user_partner", user_id)
        if key not in self._xmlid_cache:
            self._xmlid_cache[key] = self.env["res.users"].sudo().with_context(active_test=False) \
                .browse(user_id).partner_id.id or False
        return self._xmlid_cache[key]

    def _vals(self, model, rec, refs):
        vals = dict(rec.values)
        for fname, value in vals.items():
            field = model._fields.get(fname)
            if field is not None and field.type == "html" and isinstance(value, str):
                vals[fname] = as_html(value)
        notes, errors = [], []
        # a state is found within the record's country: resolve it after the others (staged records
        # come back from jsonb, which does not keep the order of the lookups)
        for fname, ref in sorted(rec.refs.items(), key=lambda item: item[0] == "state_id"):
            res_id, note, error = self._ref_id(model, fname, ref, refs, country_id=vals.get("country_id") or False)
            if error:
                # a missing optional reference is a note, a missing required one an error
                if model._fields[fname].required or fname in self._required:
                    errors.append(error)
                else:
                    notes.append(error)
            if note:
                notes.append(note)
            if not res_id and not error and (model._fields[fname].required
                                             or model._fields[fname].comodel_name == "res.currency"):
                # a currency Odoo cannot take yet, a required field left empty: Odoo's own default fills it
                vals.pop(fname, None)
                continue
            vals[fname] = res_id or False
        for fname, many in rec.many_refs.items():
            ids = []
            for ref in many:
                res_id, note, error = self._ref_id(model, fname, ref, refs)
                if note or error:
                    notes.append(note or error)
                if res_id:
                    ids.append(res_id)
            vals[fname] = [Command.set(ids)]
        if SOURCE_REF_FIELD in model._fields:
            vals[SOURCE_REF_FIELD] = f"{rec.source_object}/{rec.source_id}"
        return vals, notes, errors

    # -- children landing with their parent ---------------------------------------------------
    def _staged_children(self, om, model, items):
        """``{parent xmlid name: [StagedChild]}``: the records the run staged for the maps
        that land with ``om``'s records (``with_parent``) whose parent is among the new
        records ``items``, ready to be created with it.  A child that carries errors, is
        known already, or whose values do not resolve is left to its own batch, which
        reports it as usual."""
        if not items or not self.run.id:
            return {}
        maps = [c for c in children_of(self.run._spec(), om)
                if c.target_model in self.env and c.with_parent.field in model._fields
                and model._fields[c.with_parent.field].type == "one2many" and c.target_model not in SPLIT_FIELDS
                and not WRITTEN_AFTER_CREATE.get(c.target_model)]
        parents = {rec.source_id: rec.xmlid_name for rec, _vals, _id in items if not isinstance(rec, MessagePart)}
        if not maps or not parents:
            return {}
        out = {}
        required = self._required
        try:
            for child_om in maps:
                cmodel = self.env[child_om.target_model].with_context(**LOAD_CONTEXT)
                link = child_om.with_parent.lookup
                self.env.cr.execute(
                    "SELECT id, payload FROM flitstack_run_record WHERE run_id = %s AND map_name = %s "
                    "AND landed IS NOT TRUE AND payload->'refs'->%s->>'key' = ANY(%s) ORDER BY id",
                    [self.run.id, child_om.name, link, list(parents)])
                staged, seen = [], set()
                for row_id, data in self.env.cr.fetchall():
                    rec = _parse(data)
                    if rec.errors or rec.xmlid_name in seen or \
                            any(f not in cmodel._fields for f in (*rec.values, *rec.refs, *rec.many_refs)):
                        continue
                    seen.add(rec.xmlid_name)
                    parent = rec.refs[link].key
                    # the parent's reference is the record being created: the rest resolve as usual
                    staged.append((row_id, parent, rec.model_copy(
                        update={"refs": {k: v for k, v in rec.refs.items() if k != link}, "notes": list(rec.notes)})))
                if not staged:
                    continue
                known = self._existing(cmodel, [rec.xmlid_name for _r, _p, rec in staged])
                staged = [s for s in staged if s[2].xmlid_name not in known]
                refs = self._resolve_refs([rec for _r, _p, rec in staged])
                self._required = {row.target for row in child_om.lookups if row.required and row.target != link}
                for row_id, parent, rec in staged:
                    vals, notes, errors = self._vals(cmodel, rec, refs)
                    if errors:
                        continue
                    rec.notes.extend(notes)
                    orig = {f: vals.pop(f) for f in CREATE_ONLY_FIELDS if f in vals}
                    out.setdefault(parents[parent], []).append(
                        StagedChild(row_id, rec, vals, orig, cmodel, child_om.with_parent.field))
        finally:
            self._required = required
        return out

    @staticmethod
    def _with_children(vals, kids):
        """The parent's create values with its children as create commands."""
        if not kids:
            return vals
        vals = dict(vals)
        for kid in kids:
            vals[kid.field] = list(vals.get(kid.field) or []) + [Command.create(dict(kid.vals))]
        return vals

    @staticmethod
    def _match_children(record, kids):
        """``[(kid, created child record)]``, in the order they were given; raises
        :class:`ChildrenMismatch` when the parent does not hold exactly them."""
        out = []
        for field in dict.fromkeys(kid.field for kid in kids):
            mine = [kid for kid in kids if kid.field == field]
            made = record[field].sorted("id")
            if len(made) != len(mine):
                _logger.warning("%s %s was created with %s %s instead of %s: created again without them",
                                record._name, record.id, len(made), field, len(mine))
                raise ChildrenMismatch(f"{record._name} {record.id} holds {len(made)} {field}, not {len(mine)}")
            for kid, child in zip(mine, made):
                for fname in ("quantity", "price_unit"):
                    if fname in kid.vals and fname in child._fields and \
                            child._fields[fname].convert_to_cache(kid.vals[fname], child) != child[fname]:
                        _logger.warning("%s %s: %s is not the planned value: created again without its children",
                                        child._name, child.id, fname)
                        raise ChildrenMismatch(f"{child._name} {child.id}: {fname} is not the planned value")
                out.append((kid, child))
        return out

    def _children_lines(self, landed):
        """External ids, original create dates and ``create`` lines of the children
        created with their parents; their staged rows are marked ``landed``."""
        if not landed:
            return []
        by_model = {}
        for kid, child in landed:
            by_model.setdefault(kid.model._name, []).append((kid, child))
        for pairs in by_model.values():
            cmodel = pairs[0][0].model
            self._register_xmlids(cmodel, [(kid.rec.xmlid_name, child.id) for kid, child in pairs])
            self._write_create_dates(cmodel, [(child.id, kid.orig["create_date"])
                                              for kid, child in pairs if kid.orig.get("create_date")])
        self.env.cr.execute("UPDATE flitstack_run_record SET landed = true WHERE id = ANY(%s)",
                            [[kid.row_id for kid, _child in landed]])
        return [self._line(kid.rec, "create", res_id=child.id) for kid, child in landed]

    # -- writes ---------------------------------------------------------------------------
    def _create(self, model, items, children=None):
        if not items:
            return []
        children = children or {}
        later = WRITTEN_AFTER_CREATE.get(model._name, ())
        originals = [{f: vals.pop(f) for f in (*CREATE_ONLY_FIELDS, *later) if f in vals} for _rec, vals, _ in items]
        created = []  # (rec, record, original values)
        landed = []  # (StagedChild, child record)
        lines = []
        followers_before = self._last_follower_id()
        owned_before = {m: self._last_id(m) for m in CREATED_WITH.get(model._name, ()) if m in self.env}
        try:
            # a failing statement is logged by the cursor with its parameters: personal data
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                records = model.create([self._with_children(vals, children.get(rec.xmlid_name))
                                        for rec, vals, _ in items])
                for (rec, _v, _), record in zip(items, records):
                    if children.get(rec.xmlid_name):
                        landed += self._match_children(record, children[rec.xmlid_name])
            created = [(rec, record, orig) for (rec, _v, _), record, orig in zip(items, records, originals)]
        except _RECORD_ERRORS:
            self.env.clear()
            landed = []
            failed = set()
            for (rec, vals, _), orig in zip(items, originals):
                if isinstance(rec, MessagePart) and rec.part_of in failed:
                    lines.append(self._line(rec, "fail", message="the first part of this text failed to load"))
                    continue
                kids = children.get(rec.xmlid_name)
                if kids:
                    try:
                        with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                            record = model.create(self._with_children(vals, kids))
                            matched = self._match_children(record, kids)
                        created.append((rec, record, orig))
                        landed += matched
                        continue
                    except _RECORD_ERRORS:
                        # without its children, which load in their own batch with their own outcome
                        self.env.clear()
                try:
                    with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                        record = model.create(vals)
                    created.append((rec, record, orig))
                except _RECORD_ERRORS as exc:
                    self.env.clear()
                    failed.add(rec.xmlid_name)
                    lines.append(self._line(rec, "fail", message=safe_reason(exc, vals.values(), model)))
        for _rec, record, orig in created:
            if any(orig.get(f) for f in later):
                record.write({f: orig[f] for f in later if orig.get(f)})
        self._register_xmlids(model, [(rec.xmlid_name, record.id) for rec, record, _ in created])
        self._write_create_dates(model, [(record.id, orig["create_date"])
                                         for _rec, record, orig in created if orig.get("create_date")])
        # records Odoo made for the new ones (a bank journal's account) come before them in
        # the audit log, so that rollback, walking it backwards, deletes them afterwards
        lines += self._side_records(owned_before, created)
        lines += [self._line(rec, "create", res_id=record.id) for rec, record, _ in created]
        # the children after their parents: rollback, walking the log backwards, deletes them first
        lines += self._children_lines(landed)
        lines += self._side_followers(followers_before, created)
        return lines

    def _last_id(self, model_name):
        self.env.flush_all()
        self.env.cr.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{self.env[model_name]._table}"')
        return self.env.cr.fetchone()[0]

    def _side_records(self, owned_before, created):
        """Continuation ``create`` lines for the records of :data:`CREATED_WITH` that
        Odoo created with the batch, each on the record that caused it."""
        if not created or not owned_before:
            return []
        lines = []
        for model_name, after_id in owned_before.items():
            comodel = self.env[model_name]
            new = comodel.search([("id", ">", after_id)], order="id")
            for record in new:
                rec = next((r for r, rc, _o in created
                            if any(rc[f] == record for f, fd in rc._fields.items()
                                   if fd.type == "many2one" and fd.comodel_name == model_name)), created[0][0])
                line = self._line(rec, "create", res_id=record.id, model=model_name,
                                  message=f"{model_name} created by Odoo with this record")
                line["continuation"] = True
                line["sample_trace"] = False
                lines.append(line)
        return lines

    def _last_follower_id(self):
        self.env.flush_all()
        self.env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM mail_followers")
        return self.env.cr.fetchone()[0]

    def _side_followers(self, after_id, created):
        """Followers Odoo added while creating the batch (an activity subscribes its
        user to the record it sits on), as further ``create`` lines of the record
        that caused them, so that rollback removes them too.  The transaction's
        snapshot shows no other transaction's new rows, only ours."""
        if not created:
            return []
        self.env.flush_all()
        self.env.cr.execute("SELECT id, res_model, res_id FROM mail_followers WHERE id > %s ORDER BY id", [after_id])
        rows = self.env.cr.fetchall()
        if not rows:
            return []
        cause = {}
        for rec, record, _orig in created:
            cause.setdefault((record._name, record.id), rec)
            if "res_model" in record._fields and "res_id" in record._fields and record.res_model:
                cause.setdefault((record.res_model, record.res_id), rec)
        lines = []
        for follower_id, res_model, res_id in rows:
            rec = cause.get((res_model, res_id), created[0][0])
            line = self._line(rec, "create", res_id=follower_id, model="mail.followers",
                              message=f"follower of {res_model} {res_id} added by Odoo with this record")
            line["continuation"] = True
            line["sample_trace"] = False
            lines.append(line)
        return lines

    def _write_create_dates(self, model, pairs):
        """Original creation dates; the ORM sets ``create_date`` itself, so it is written afterwards."""
        if not pairs or "create_date" not in model._fields:
            return
        placeholders = ",".join(["(%s,%s::timestamp)"] * len(pairs))
        self.env.cr.execute(
            f'UPDATE "{model._table}" AS t SET create_date = v.d FROM (VALUES {placeholders}) AS v(id, d) WHERE t.id = v.id',
            [x for pair in pairs for x in pair])
        model.invalidate_model(["create_date"])

    def _update(self, model, items):
        if not items:
            return []
        lines = []
        records = model.browse([res_id for _rec, _vals, res_id in items])
        # read the compared fields of the whole batch in one query per table, not one per record and field
        records.fetch(sorted({f for _rec, vals, _id in items for f in vals
                              if f in model._fields and f not in CREATE_ONLY_FIELDS}))
        by_id = {record.id: record for record in records}
        writes = []
        for rec, vals, res_id in items:
            record = by_id[res_id]
            for f in CREATE_ONLY_FIELDS:
                vals.pop(f, None)
            old, changed = self._diff(record, vals)
            if not changed:
                lines.append(self._line(rec, "skip", res_id=res_id, message="unchanged since it was last migrated"))
            else:
                writes.append((rec, record, changed, old))
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                for _rec, record, changed, _old in writes:
                    record.write(changed)
            lines += [self._line(rec, "update", res_id=record.id, old_values=old) for rec, record, _c, old in writes]
        except _RECORD_ERRORS:
            self.env.clear()
            for rec, record, changed, old in writes:
                try:
                    with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                        record.write(changed)
                    lines.append(self._line(rec, "update", res_id=record.id, old_values=old))
                except _RECORD_ERRORS as exc:
                    self.env.clear()
                    lines.append(self._line(rec, "fail", res_id=record.id,
                                            message=safe_reason(exc, changed.values(), model)))
        return lines

    @staticmethod
    def _write_format(record, fname):
        """The value of ``record.fname`` as ``write`` takes it, JSON-serialisable."""
        field = record._fields[fname]
        current = record[fname]
        if field.type in ("many2many", "one2many"):
            return [[Command.SET, 0, current.ids]]
        if field.type == "many2one":
            return current.id or False
        value = field.convert_to_write(current, record)
        if field.type in ("date", "datetime") and value:
            value = fields.Datetime.to_string(value) if field.type == "datetime" else fields.Date.to_string(value)
        elif field.type == "html" and value:
            value = str(value)
        return value

    @classmethod
    def _diff(cls, record, vals):
        """``(old values in write format, changed vals)`` of ``record`` against ``vals``."""
        old, changed = {}, {}
        for fname, value in vals.items():
            field = record._fields[fname]
            current = record[fname]
            if field.type in ("many2many", "one2many"):
                new_ids = sorted(value[0][2]) if value and value[0][0] == Command.SET else None
                if new_ids is None or new_ids == sorted(current.ids):
                    continue
            elif field.type == "many2one":
                if (value or False) == current.id:
                    continue
            else:
                new = field.convert_to_record(field.convert_to_cache(value, record), record)
                if new == current or (not new and not current):
                    continue
            old[fname] = cls._write_format(record, fname)
            changed[fname] = value
        return old, changed
