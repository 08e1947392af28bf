"""Accounting records: bring migrated invoices and payments to their source state,
and undo that on rollback, or refuse before anything changes.

At the end of a run (:meth:`AccountingSettlement.settle`), after every object map
has loaded:

1. invoices migrated by the connection that carry a source bill state
   (``x_flitstack_clio_state``) and are still draft are posted when the bill
   awaits payment or is paid, and cancelled when it is void; drafts and bills
   awaiting approval stay draft;
2. payments migrated by the connection that are still draft are posted; one that
   names the bill it paid (``x_flitstack_move_id``) is reconciled with that
   invoice's receivable line;
3. a state change of a record an earlier run created is kept on a continuation
   ``update`` line of this run (its old state), so that rolling this run back
   restores it; records this run created are reset by its own rollback.

A posting Odoo refuses is a continuation ``fail`` line naming the record and the
reason, and the rest goes on.

On rollback (:class:`AccountingRollback`), before anything changes, the run is
refused with the entries named when Odoo forbids undoing them: an entry dated on
or before a lock date, an entry whose journal hashed it, or an entry reconciled
(by someone else) with one this run did not reconcile it with.  Otherwise payments this run created are reset
to draft (their reconciliations go with them), invoices it created are reset to
draft, and states it changed on older records are restored; the generic rollback
then deletes and writes back as for any record.
"""
import logging

import psycopg2

from odoo import _
from odoo.exceptions import UserError

from .loader import LOAD_CONTEXT, safe_reason

_logger = logging.getLogger(__name__)

STATE_FIELD = "x_flitstack_clio_state"
BILL_LINK = "x_flitstack_move_id"
POST_STATES = ("awaiting_payment", "paid")
CANCEL_STATES = ("void", "deleted")
#: the old state of a record, on a continuation line; the generic rollback skips "__" keys
OLD_STATE = "__state__"


class AccountingRefused(UserError):
    """Odoo forbids undoing some accounting entries of this run; nothing was changed."""


#: the tables whose planner statistics are refreshed before accounting work on many entries
ACCOUNTING_TABLES = ("account_move", "account_move_line", "account_partial_reconcile", "account_full_reconcile",
                     "account_payment")


def refresh_statistics(env, tables=ACCOUNTING_TABLES):
    """``ANALYZE`` the tables a run just filled, in its own transaction (ANALYZE counts the
    transaction's own rows).  Statistics autovacuum took before thousands of entries
    landed lead PostgreSQL to plans that scan whole tables once per entry (Odoo's
    payment state query took most of a second per invoice).  A table whose lock is taken
    (an ANALYZE or VACUUM elsewhere), or that Odoo's database user does not own, keeps
    its statistics: the work goes on, only slower."""
    cr = env.cr
    cr.execute("SHOW lock_timeout")
    (before,) = cr.fetchone()
    cr.execute("SET LOCAL lock_timeout = '2s'")
    try:
        for table in tables:
            cr.execute("SELECT to_regclass(%s)", [table])
            if cr.fetchone()[0] is None:
                continue
            try:
                with cr.savepoint(flush=False):
                    cr.execute(f'ANALYZE "{table}"', log_exceptions=False)
            except psycopg2.OperationalError as exc:
                _logger.info("statistics of %s not refreshed: %s", table, exc.pgcode)
    finally:
        cr.execute("SELECT set_config('lock_timeout', %s, true)", [before])


def _migrated_ids(env, module, model):
    env.cr.execute("SELECT res_id FROM ir_model_data WHERE module = %s AND model = %s", [module, model])
    return [r for (r,) in env.cr.fetchall()]


class AccountingSettlement:
    """Posts, cancels and reconciles what a run loaded."""

    def __init__(self, run, loader):
        self.run = run
        self.env = run.env
        self.loader = loader
        self.module = run.connection_id.xmlid_module

    def _created_here(self, model):
        self.env.cr.execute(
            "SELECT res_id FROM flitstack_audit_line WHERE run_id = %s AND model = %s AND operation = 'create'",
            [self.run.id, model])
        return {r for (r,) in self.env.cr.fetchall()}

    def settle(self):
        """Returns ``{"posted": n, "cancelled": n, "reconciled": n, "failed": n}``."""
        stats = {"posted": 0, "cancelled": 0, "reconciled": 0, "failed": 0}
        if "account.move" not in self.env or "account.payment" not in self.env:
            return stats
        Move = self.env["account.move"].with_context(**LOAD_CONTEXT)
        Payment = self.env["account.payment"].with_context(**LOAD_CONTEXT)
        drafts = Move.browse()
        if STATE_FIELD in Move._fields:
            drafts = Move.browse(_migrated_ids(self.env, self.module, "account.move")).exists().sorted("id").filtered(
                lambda m: m.state == "draft" and m[STATE_FIELD] in POST_STATES + CANCEL_STATES)
        draft_payments = Payment.browse(_migrated_ids(self.env, self.module, "account.payment")).exists().sorted(
            "id").filtered(lambda p: p.state == "draft")
        if drafts or draft_payments:
            self.env.flush_all()
            refresh_statistics(self.env)
        lines = []
        if drafts:
            created = self._created_here("account.move")
            for move in drafts:
                want = move[STATE_FIELD]
                action = "posted" if want in POST_STATES else "cancelled"
                try:
                    with self.env.cr.savepoint():
                        (move.action_post if action == "posted" else move.button_cancel)()
                    stats[action] += 1
                    if move.id not in created:
                        lines.append(self._line(move, "update", {OLD_STATE: "draft"},
                                                f"{action} as its source bill is {want}"))
                except (UserError, ValueError) as exc:
                    stats["failed"] += 1
                    lines.append(self._line(move, "fail", False, f"could not be {action}: {safe_reason(exc)}"))
        created = self._created_here("account.payment")
        for payment in draft_payments:
            try:
                with self.env.cr.savepoint():
                    payment.action_post()
                    bill = payment[BILL_LINK] if BILL_LINK in payment._fields else Payment.browse()
                    if bill and bill.state == "posted":
                        for partial in self._reconcile(payment, bill):
                            lines.append(self._line(partial, "create", False,
                                                    f"reconciles payment {payment.id} with invoice {bill.id}",
                                                    cause=payment))
                        stats["reconciled"] += 1
                stats["posted"] += 1
                if payment.id not in created:
                    lines.append(self._line(payment, "update", {OLD_STATE: "draft"}, "posted"))
            except (UserError, ValueError) as exc:
                stats["failed"] += 1
                lines.append(self._line(payment, "fail", False, f"could not be posted: {safe_reason(exc)}"))
        self.loader._write_audit(lines)
        return stats

    @staticmethod
    def _reconcile(payment, bill):
        receivable = bill.line_ids.filtered(
            lambda l: l.account_id.account_type == "asset_receivable" and not l.reconciled)
        counterpart = payment.move_id.line_ids.filtered(
            lambda l: l.account_id in receivable.account_id and not l.reconciled)
        if not (receivable and counterpart):
            return receivable.browse()
        before = (receivable | counterpart).matched_debit_ids | (receivable | counterpart).matched_credit_ids
        (receivable | counterpart).reconcile()
        after = (receivable | counterpart).matched_debit_ids | (receivable | counterpart).matched_credit_ids
        return after - before

    def _line(self, record, operation, old_values, message, cause=None):
        """A continuation line of ``record`` (or of the migrated record ``cause`` that
        brought it): reconciliation counts the record's own line, not this one."""
        origin = cause or record
        self.env.cr.execute("SELECT name FROM ir_model_data WHERE module = %s AND model = %s AND res_id = %s LIMIT 1",
                            [self.module, origin._name, origin.id])
        row = self.env.cr.fetchone()
        name = row[0] if row else f"{origin._name}_{origin.id}"
        source_object, _sep, source_id = name.rpartition("_")
        return {
            "run_id": self.run.id, "map_name": False, "source_object": source_object, "source_id": source_id,
            "row_number": False, "model": record._name, "res_id": record.id, "xmlid": f"{self.module}.{name}",
            "operation": operation, "old_values": old_values, "message": message, "adopted": False,
            "continuation": True, "sample_trace": False,
        }


class AccountingRollback:
    """The accounting part of a run's rollback."""

    def __init__(self, run):
        self.run = run
        self.env = run.env

    def _lines(self, models, operations):
        return self.env["flitstack.audit.line"].sudo().search([
            ("run_id", "=", self.run.id), ("rolled_back", "=", False), ("model", "in", models),
            ("operation", "in", operations)])

    def _entries(self):
        """The journal entries this run created or changed the state of."""
        if "account.move" not in self.env:
            return self.env["res.partner"].browse(), self.env["res.partner"].browse()
        lines = self._lines(["account.move", "account.payment"], ["create", "update"])
        created_lines = lines.filtered(lambda l: l.operation == "create")
        moves = self.env["account.move"].browse(
            [l.res_id for l in created_lines if l.model == "account.move"]).exists()
        payments = self.env["account.payment"].browse(
            [l.res_id for l in created_lines if l.model == "account.payment"]).exists()
        changed = lines.filtered(lambda l: l.operation == "update" and l.old_values and OLD_STATE in l.old_values)
        moves |= self.env["account.move"].browse([l.res_id for l in changed if l.model == "account.move"]).exists()
        payments |= self.env["account.payment"].browse(
            [l.res_id for l in changed if l.model == "account.payment"]).exists()
        return moves, payments

    def check(self):
        """Raise :class:`AccountingRefused`, naming the entries, when Odoo forbids undoing them."""
        moves, payments = self._entries()
        if not moves and not payments:
            return
        entries = moves | payments.move_id
        problems = []
        for move in entries.filtered(lambda m: m.state == "posted"):
            label = move.name or f"account.move {move.id}"
            locks = move.company_id._get_violated_lock_dates(move.date, False, move.journal_id)
            if locks:
                problems.append(_("%(entry)s is dated %(date)s, on or before the lock date %(lock)s",
                                  entry=label, date=move.date, lock=max(d for d, _n in locks)))
            if move.inalterable_hash:
                problems.append(_("%(entry)s is hashed by its journal %(journal)s and cannot be reset",
                                  entry=label, journal=move.journal_id.name))
        ours = {l.res_id for l in self._lines(["account.partial.reconcile"], ["create"])}
        for line in entries.line_ids:
            for partial in (line.matched_debit_ids | line.matched_credit_ids).filtered(lambda p: p.id not in ours):
                other = partial.debit_move_id if partial.credit_move_id == line else partial.credit_move_id
                problems.append(_("%(entry)s is reconciled with %(other)s, which this run did not reconcile",
                                  entry=line.move_id.name or line.move_id.id, other=other.move_id.name or other.move_id.id))
        if problems:
            unique = list(dict.fromkeys(problems))
            raise AccountingRefused(_(
                "This run cannot be rolled back: Odoo forbids undoing %(count)s of its accounting entries, and "
                "nothing was changed: %(problems)s%(more)s. Lift the lock date or reverse those entries by hand, "
                "then roll back again.",
                count=len(unique), problems="; ".join(unique[:20]),
                more=_(" and %s more", len(unique) - 20) if len(unique) > 20 else ""))

    def prepare(self):
        """Reset to draft what this run posted, reconciled or cancelled (payments first)."""
        moves, payments = self._entries()
        if moves or payments:
            self.env.flush_all()
            refresh_statistics(self.env)
        ctx = dict(LOAD_CONTEXT, force_delete=True)
        self._drop_exchange_entries(ctx)
        for payment in payments.with_context(**ctx).filtered(lambda p: p.state != "draft").sorted("id", reverse=True):
            payment.action_draft()
        for move in moves.with_context(**ctx).filtered(lambda m: m.state != "draft").sorted("id", reverse=True):
            move.button_draft()
        return len(moves) + len(payments)

    def _drop_exchange_entries(self, ctx):
        """Delete the exchange difference entries Odoo booked when this run reconciled a
        payment in a foreign currency (a cent of rounding between the invoice's lines and
        its total).  Unreconciling would otherwise reverse them with new entries: the
        run's rollback leaves the books as they were, not with an entry and its reversal."""
        if "account.partial.reconcile" not in self.env:
            return
        partials = self.env["account.partial.reconcile"].browse(
            self._lines(["account.partial.reconcile"], ["create"]).mapped("res_id")).exists()
        exchange = partials.exchange_move_id
        Full = self.env["account.full.reconcile"]
        if "exchange_move_id" in Full._fields:
            exchange |= partials.full_reconcile_id.exchange_move_id
        if not exchange:
            return
        self.env.flush_all()
        self.env.cr.execute("UPDATE account_partial_reconcile SET exchange_move_id = NULL WHERE exchange_move_id = ANY(%s)",
                            [exchange.ids])
        if "exchange_move_id" in Full._fields:
            self.env.cr.execute("UPDATE account_full_reconcile SET exchange_move_id = NULL "
                                "WHERE exchange_move_id = ANY(%s)", [exchange.ids])
        self.env.invalidate_all()
        exchange = exchange.with_context(**ctx)
        exchange.filtered(lambda m: m.state != "draft").button_draft()
        exchange.unlink()
