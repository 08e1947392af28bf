"""Revert a run from its audit lines alone.

1. Refuse when a later run (not rolled back) has an audit line on a record this
   run created or updated: rolling back would destroy that run's work.  The
   refusal names the records.  Refuse as well, before anything changes, when
   Odoo forbids undoing accounting entries of the run (lock dates, hashed
   journals, reconciliations made by others: see :mod:`.accounting`); otherwise
   reset the run's payments and invoices to draft first.
2. Walk the run's ``create`` and ``update`` lines backwards (reverse dependency
   order: what loaded last is undone first), in batches of 500.
3. ``update`` lines: write back the old values they hold, with tracking off.
   Records that existed before the run and were matched by it (``adopted``)
   lose the external id the run gave them, and stay.  Records the run deleted
   (a part of a split note that a shorter note no longer needed) are created
   again from the values on their line, under their external id.
4. ``create`` lines: unlink the records and drop their external ids.
5. Mark the lines as rolled back.
6. Take back what the run's end added to crm's lead-scoring table
   (:meth:`.scoring.ScoringSettlement.undo`); the rollback's own writes and
   deletes of leads count nothing there.
"""
import logging
from collections import defaultdict

from odoo import _
from odoo.exceptions import UserError
from odoo.tools import mute_logger

from .accounting import AccountingRollback
from .attachments import restore_previous_content
from ..models.crm_lead import SCORING_DISCARD_KEY
from .loader import LOAD_CONTEXT
from .scoring import ScoringSettlement

_logger = logging.getLogger(__name__)

BATCH = 500


class RollbackRefused(UserError):
    """A later run touched records of this run; roll that run back first."""


class RunRollback:
    def __init__(self, run):
        self.run = run
        self.env = run.env

    def _lines(self):
        return self.env["flitstack.audit.line"].sudo().search(
            [("run_id", "=", self.run.id), ("rolled_back", "=", False), "|",
             ("operation", "in", ("create", "update")), ("adopted", "=", True)], order="id desc")

    def check(self):
        """Raise :class:`RollbackRefused` when a later run touched this run's records."""
        lines = self._lines()
        touched = defaultdict(set)
        for line in lines:
            touched[line.model].add(line.res_id)
        conflicts = self.env["flitstack.audit.line"]
        for model, ids in touched.items():
            conflicts |= self.env["flitstack.audit.line"].sudo().search([
                ("run_id", ">", self.run.id),
                ("run_id.connection_id", "=", self.run.connection_id.id),
                ("run_id.state", "!=", "rolled_back"),
                ("operation", "in", ("create", "update")),
                ("rolled_back", "=", False),
                ("model", "=", model), ("res_id", "in", list(ids)),
            ])
        if conflicts:
            named = ", ".join(f"{l.model} {l.res_id} ({l.xmlid}, run {l.run_id.display_name})"
                              for l in conflicts[:20])
            more = _(" and %s more", len(conflicts) - 20) if len(conflicts) > 20 else ""
            raise RollbackRefused(_(
                "This run cannot be rolled back: later runs changed %(count)s of its records: %(names)s%(more)s. "
                "Roll back those runs first.", count=len(conflicts), names=named, more=more))
        AccountingRollback(self.run).check()

    def execute(self):
        """Undo the run; returns ``{"deleted": n, "restored": n}``."""
        self.check()
        AccountingRollback(self.run).prepare()
        lines = self._lines()
        stats = {"deleted": 0, "restored": 0}
        for start in range(0, len(lines), BATCH):
            chunk = lines[start:start + BATCH]
            self._undo_chunk(chunk, stats)
            chunk.write({"rolled_back": True})
            self.env.flush_all()
        ScoringSettlement(self.run).undo()
        self.env.registry.clear_cache()
        return stats

    def _undo_chunk(self, chunk, stats):
        # keep the backwards order, but group consecutive lines of one model and operation
        groups = []
        for line in chunk:
            key = (line.model, line.operation)
            if groups and groups[-1][0] == key:
                groups[-1][1].append(line)
            else:
                groups.append((key, [line]))
        for (model_name, operation), lines in groups:
            # an accounting entry that consumed a sequence number may be deleted here: the
            # run created it, and its whole chain goes back in reverse order
            model = self.env[model_name].sudo().with_context(**LOAD_CONTEXT, force_delete=True,
                                                             **{SCORING_DISCARD_KEY: True})
            if operation in ("update", "skip"):
                for line in lines:
                    if line.old_values and "__deleted__" in line.old_values:
                        self._recreate(model, line, line.old_values["__deleted__"])
                        stats["restored"] += 1
                        continue
                    if line.old_values and "__file__" in line.old_values:
                        # a file whose content the run replaced: the previous content comes back
                        stats["restored"] += int(restore_previous_content(model, line))
                        continue
                    record = model.browse(line.res_id).exists()
                    # "__" keys (an entry's old state) were restored by AccountingRollback.prepare
                    old = {k: v for k, v in (line.old_values or {}).items() if not k.startswith("__")}
                    if record and old:
                        record.write(old)
                        stats["restored"] += 1
                    elif record and line.old_values:
                        stats["restored"] += 1
                self._drop_xmlids(model_name, [l for l in lines if l.adopted])
            else:
                records = model.browse([l.res_id for l in lines]).exists()
                # a record deleted by a later run and brought back by its rollback has a new id
                alive = set(records.ids)
                gone = [l.xmlid.split(".", 1)[1] for l in lines if l.xmlid and l.res_id not in alive]
                if gone:
                    self.env.cr.execute(
                        "SELECT res_id FROM ir_model_data WHERE module = %s AND model = %s AND name = ANY(%s)",
                        [self.run.connection_id.xmlid_module, model_name, gone])
                    records |= model.browse([r for (r,) in self.env.cr.fetchall()]).exists()
                with mute_logger("odoo.models.unlink"):  # one line of every id: the audit lines say it
                    records.unlink()
                stats["deleted"] += len(records)
                self._drop_xmlids(model_name, lines)

    def _recreate(self, model, line, values):
        record = model.create(dict(values))
        module, name = line.xmlid.split(".", 1)
        self.env.cr.execute(
            "INSERT INTO ir_model_data (module, name, model, res_id, noupdate, create_uid, write_uid, create_date, "
            "write_date) VALUES (%s, %s, %s, %s, true, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC') "
            "ON CONFLICT (module, name) DO UPDATE SET res_id = EXCLUDED.res_id, model = EXCLUDED.model",
            [module, name, model._name, record.id, self.env.uid, self.env.uid])
        return record

    def _drop_xmlids(self, model_name, lines):
        names = [l.xmlid.split(".", 1)[1] for l in lines if l.xmlid]
        if names:
            self.env.cr.execute(
                "DELETE FROM ir_model_data WHERE module = %s AND name = ANY(%s) AND model = %s",
                [self.run.connection_id.xmlid_module, names, model_name])
