"""A law firm's money, from an emulated Clio into Odoo Invoicing, to the cent.

Runs where Invoicing (``account``) is installed; on a database without it, the
money maps are reported as not migrated (see ``test_clio_run``).
"""
import unittest
from collections import Counter, defaultdict
from decimal import Decimal

from odoo.tests import tagged

from flitstack_connectors.emulators.clio_money import TRUST_ACCOUNT_ID

from ..services.accounting import AccountingRefused
from .common import FlitstackCase

CONTACTS, MATTERS, ACTIVITIES, BILLS, TRUST = 1000, 600, 5000, 500, 300
ACCOUNT_TABLES = ("account.move", "account.move.line", "account.payment", "account.partial.reconcile", "account.account",
                  "account.journal", "product.pricelist", "product.pricelist.item", "product.template",
                  "product.product", "res.partner", "crm.lead", "ir.model.data")
CLIENT_RATES = 40
MONEY_MAPS = ("clio_bank_journal", "clio_bill", "clio_bill_time_entry", "clio_bill_expense", "clio_bill_tax",
              "clio_bill_discount", "clio_work_in_progress", "clio_unbilled_time_entry", "clio_unbilled_expense",
              "clio_bill_payment", "clio_trust_receipt", "clio_trust_disbursement")
#: maps whose records land inside their bill's create (``with_parent``) when the run creates the bill
WITH_BILL = ("clio_bill_time_entry", "clio_bill_expense", "clio_bill_tax", "clio_bill_discount")


def cents(value):
    return Decimal(str(value)).quantize(Decimal("0.01"))


@tagged("post_install", "-at_install", "flitstack")
class TestClioMoney(FlitstackCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "account.move" not in cls.env:
            raise unittest.SkipTest("Invoicing (account) is not installed in this database")
        cls.serve_clio(contacts=CONTACTS, matters=MATTERS, activities=ACTIVITIES, bills=BILLS,
                       trust_transactions=TRUST, client_rates=CLIENT_RATES, rate_limit=100_000)
        # the emulated account does not limit its rate here, nor does the client: the pace at
        # Clio's limit is test_clio_run's and the workers harness's, the money to the cent is this test's
        cls.env["ir.config_parameter"].sudo().set_param("flitstack_migration.clio_rate_limit", "100000/60")
        ledger = cls.clio.account.ledger
        cls.bills = {bid: cls.clio.record("bills", bid) for bid in ledger.bills.ids}
        cls.activities = [cls.clio.record("activities", aid) for aid in ledger.activities.ids]

    def table_counts(self):
        return {m: self.env[m].sudo().with_context(active_test=False).search_count([]) for m in ACCOUNT_TABLES}

    def run_mode(self, mode):
        run = self.start_run(self.connection, mode)
        self.assert_closes(run)
        return run

    def migrated(self, model, prefix):
        """``{source id: record}`` of ``model`` migrated under external ids ``<prefix>_<id>``."""
        found = self.env["ir.model.data"].search([("module", "=", self.connection.xmlid_module),
                                                  ("model", "=", model), ("name", "=like", f"{prefix}\\_%")])
        return {int(x.name[len(prefix) + 1:]): self.env[model].browse(x.res_id) for x in found}

    def landed(self, run):
        """``{map name: records created with their parent}`` of ``run``'s staged records."""
        self.env.flush_all()
        self.env.cr.execute("SELECT map_name, count(*) FROM flitstack_run_record WHERE run_id = %s AND landed "
                            "GROUP BY map_name", [run.id])
        return dict(self.env.cr.fetchall())

    def moves_by_bill(self):
        return self.migrated("account.move", "bills")

    def assert_bills_match(self, bills):
        moves = self.moves_by_bill()
        self.assertEqual(set(moves), set(bills))
        wrong = []
        for bid, bill in bills.items():
            move = moves[bid]
            expected_state = {"draft": "draft", "awaiting_approval": "draft", "awaiting_payment": "posted",
                              "paid": "posted", "void": "cancel"}[bill["state"]]
            residual = move.amount_residual if move.state != "cancel" else 0.0
            got = (move.state, cents(move.amount_total), cents(residual), move.ref, move.partner_id.x_flitstack_source_ref)
            want = (expected_state, cents(bill["total"]), cents(bill["balance"]), bill["number"],
                    f"contacts/{bill['client']['id']}")
            if got != want:
                wrong.append((bid, got, want))
        self.assertEqual(wrong, [])

    def assert_rates_match(self):
        def most_used(counter):
            return max(counter.items(), key=lambda kv: (kv[1], kv[0]))[0]

        firm, by_client = Counter(), defaultdict(Counter)
        for a in self.activities:
            if a["type"] == "TimeEntry":
                # a person who works for a company is billed as that company in Odoo (its commercial
                # partner, whose pricelist its contacts share)
                client = self.clio.record("contacts", self.clio.record("matters", a["matter"]["id"])["client"]["id"])
                customer = (client.get("company") or {}).get("id") or client["id"]
                firm[cents(a["price"])] += 1
                by_client[f"contacts/{customer}"][cents(a["price"])] += 1
        standard = most_used(firm)
        own = {key: most_used(c) for key, c in by_client.items() if most_used(c) != standard}
        self.assertTrue(own, "the emulated account has clients charged at client or matter rates")
        module = self.connection.xmlid_module
        pricelist = self.env.ref(f"{module}.clio_rates_standard_pricelist")
        product = self.env.ref(f"{module}.clio_rates_product")
        self.assertEqual((pricelist.name, product.name, product.type, product.uom_id, cents(product.list_price)),
                         ("Clio standard rates", "Legal services (hour)", "service",
                          self.env.ref("uom.product_uom_hour"), standard))
        self.assertEqual([(i.product_tmpl_id, i.compute_price, cents(i.fixed_price)) for i in pricelist.item_ids],
                         [(product, "fixed", standard)])
        clients = self.env["res.partner"].search([("specific_property_product_pricelist", "!=", False)])
        got = {}
        for partner in clients:
            commercial = partner.commercial_partner_id
            self.assertEqual(partner.specific_property_product_pricelist, commercial.specific_property_product_pricelist)
            self.assertEqual(partner.property_product_pricelist, commercial.specific_property_product_pricelist)
            if partner == commercial:
                items = partner.specific_property_product_pricelist.item_ids
                self.assertEqual(len(items), 1)
                got[partner.x_flitstack_source_ref] = cents(items.fixed_price)
        self.assertEqual(got, own)
        contacts_of = self.env["res.partner"].search_count([("commercial_partner_id", "in", clients.ids),
                                                             ("id", "not in", clients.ids)])
        self.assertEqual(contacts_of, 0, "every contact of a client with its own rates has the client's pricelist")

    def test_money_lands_to_the_cent_reruns_deltas_and_rollbacks(self):
        before = self.table_counts()
        states = {b["state"] for b in self.bills.values()}
        self.assertEqual(states, {"draft", "awaiting_approval", "awaiting_payment", "paid", "void"})

        # 1. the full run: every object map reconciles, no money record fails
        first = self.run_mode("full")
        counts = self.counts(first)
        ledger = self.clio.account.ledger
        billed = [a for a in self.activities if a["bill"]]
        unbilled = [a for a in self.activities if not a["bill"]]
        taxed = [b for b in self.bills.values() if b["total_tax"]]
        discounted = [b for b in self.bills.values() if b["discount"]]
        self.assertTrue(taxed and discounted and unbilled)
        expected = {
            "clio_bank_journal": 2, "clio_bill": BILLS,
            "clio_bill_time_entry": sum(1 for a in billed if a["type"] == "TimeEntry"),
            "clio_bill_expense": sum(1 for a in billed if a["type"] == "ExpenseEntry"),
            "clio_bill_tax": len(taxed), "clio_bill_discount": len(discounted),
            "clio_work_in_progress": ledger.billable_matters.count,
            "clio_unbilled_time_entry": sum(1 for a in unbilled if a["type"] == "TimeEntry"),
            "clio_unbilled_expense": sum(1 for a in unbilled if a["type"] == "ExpenseEntry"),
            "clio_bill_payment": ledger.allocations.count, "clio_trust_receipt": TRUST // 2,
            "clio_trust_disbursement": TRUST - TRUST // 2,
        }
        self.assertEqual({name: counts[name] for name in MONEY_MAPS},
                         {name: (n, n, 0, 0, 0) for name, n in expected.items()})
        # a new bill's lines were created with its invoice, each with its own external id and audit line
        self.assertEqual(self.landed(first), {name: expected[name] for name in WITH_BILL})
        lines = self.env["account.move.line"].browse([
            line.res_id for line in first.audit_line_ids if line.map_name in WITH_BILL and line.operation == "create"])
        self.assertEqual(len(lines.exists()), sum(expected[name] for name in WITH_BILL))
        self.assertLessEqual(set(lines.move_id.ids), {move.id for move in self.moves_by_bill().values()})

        # 2. every bill: Odoo's total and amount due equal Clio's total and balance, to the cent
        self.assert_bills_match(self.bills)

        # 3. hours and amounts per matter equal the sums of its Clio entries, billed and unbilled
        want = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for a in self.activities:
            key = f"matters/{a['matter']['id']}"
            want[key][0] += Decimal(str(a["quantity_in_hours"])) if a["type"] == "TimeEntry" else 0
            want[key][1] += cents(a["total"])
        got = defaultdict(lambda: [Decimal(0), Decimal(0)])
        lines = self.env["account.move.line"].search([("x_flitstack_lead_id", "!=", False)])
        for line in lines:
            key = line.x_flitstack_lead_id.x_flitstack_source_ref
            got[key][0] += Decimal(str(line.x_flitstack_hours or 0))
            got[key][1] += cents(line.price_subtotal)
        self.assertEqual(len(lines), ACTIVITIES)
        self.assertEqual({k: (v[0].quantize(Decimal("0.1")), v[1]) for k, v in got.items()},
                         {k: (v[0].quantize(Decimal("0.1")), v[1]) for k, v in want.items()})

        # 4. each client's trust balance equals Clio's, on the partner and in the trust journal
        journal = self.migrated("account.journal", "bank_accounts")[TRUST_ACCOUNT_ID]
        self.assertEqual(journal.type, "bank")
        trust = defaultdict(Decimal)
        for pay in self.env["account.payment"].search([("journal_id", "=", journal.id)]):
            self.assertIn(pay.state, ("in_process", "paid"))
            trust[pay.partner_id.x_flitstack_source_ref] += cents(pay.amount) * (1 if pay.payment_type == "inbound" else -1)
        clio_trust = {f"contacts/{cid}": cents(b) for cid, b in ledger._trust_balances.items()}
        self.assertEqual(dict(trust), clio_trust)
        partners = self.env["res.partner"].search([("x_flitstack_trust_balance", "!=", 0)])
        self.assertEqual({p.x_flitstack_source_ref: cents(p.x_flitstack_trust_balance) for p in partners},
                         {k: v for k, v in clio_trust.items() if v})

        # 5. rates: the most-used rate of the time entries is the standard pricelist's; each client whose
        # own most-used rate differs (client and matter rates of Clio's hierarchy) has its own pricelist,
        # set on the client and its contacts
        self.assert_rates_match()

        # 6. a re-run creates nothing
        after_first = self.table_counts()
        second = self.run_mode("full")
        self.assertEqual({n: self.counts(second)[n][1:3] for n in MONEY_MAPS}, {n: (0, 0) for n in MONEY_MAPS})
        # the bills exist: their lines are compared in their own batches, none lands with a bill
        self.assertEqual(self.landed(second), {})
        self.assertEqual(self.table_counts(), after_first)

        # 7. ten bills are paid in Clio: the delta registers exactly ten payments, reconciled
        paid = self.clio.pay_bills(n=10)
        self.assertEqual(len(paid), 10)
        delta = self.run_mode("delta")
        self.assertEqual(self.counts(delta)["clio_bill_payment"][1], 10)
        after_delta = self.table_counts()
        self.assertEqual(after_delta["account.payment"] - after_first["account.payment"], 10)
        now = {bid: self.clio.record("bills", bid) for bid in paid}
        self.assertEqual({bid: b["state"] for bid, b in now.items()}, {bid: "paid" for bid in paid})
        self.assert_bills_match({**self.bills, **now})
        moves = self.moves_by_bill()
        self.assertEqual({moves[bid].payment_state for bid in paid} - {"paid", "in_payment"}, set())

        # 8. rolling the delta back removes those payments and their reconciliations only
        self.rollback(delta)
        self.assertEqual(self.table_counts(), after_first)
        self.assert_bills_match(self.bills)

        # 9. a lock date Odoo enforces: the rollback is refused, naming the entries, and nothing changes
        posted = self.env["account.move"].union(*self.moves_by_bill().values()).filtered(
            lambda m: m.state == "posted").sorted("id")
        last = max(posted.mapped("date"))
        company = self.env.company
        self.env.cr.execute("UPDATE res_company SET fiscalyear_lock_date = %s WHERE id = %s", [last, company.id])
        company.invalidate_recordset()
        with self.assertRaises(AccountingRefused) as refused:
            first.action_rollback()
        text = str(refused.exception)
        self.assertIn("on or before the lock date", text)
        self.assertIn("nothing was changed", text)
        named = posted[0]
        self.assertIn(f"{named.name} is dated {named.date}, on or before the lock date {last}", text)
        self.assertEqual(first.state, "done")
        self.assertEqual(self.table_counts(), after_first)
        self.env.cr.execute("UPDATE res_company SET fiscalyear_lock_date = NULL WHERE id = %s", [company.id])
        company.invalidate_recordset()

        # 10. rolling back the re-run, then the first run, leaves every table as it was
        self.rollback(second)
        self.rollback(first)
        self.assertEqual(self.table_counts(), before)
