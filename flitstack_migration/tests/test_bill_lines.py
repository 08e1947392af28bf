"""A bill's staged lines land inside its invoice's create; a bill that cannot take
them is created without them, and they load in their own batch with their own
outcome.  Runs where Invoicing (``account``) is installed."""
import unittest

from odoo.tests import tagged

from flitstack_connectors.records import PlannedRecord, Ref

from .common import FlitstackCase


@tagged("post_install", "-at_install", "flitstack")
class TestBillLines(FlitstackCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "account.move" not in cls.env:
            raise unittest.SkipTest("Invoicing (account) is not installed in this database")

    def planned(self, map_name, source_object, source_id, model, values, refs):
        return PlannedRecord(map_name=map_name, source_object=source_object, source_id=source_id, model=model,
                             values=values, refs={k: Ref(kind="record", object=o, key=key)
                                                  for k, (o, key) in refs.items()}).model_dump(mode="json")

    def entry(self, entry_id, bill_id, hours, rate):
        return self.planned("clio_bill_time_entry", "activities", entry_id, "account.move.line",
                            {"display_type": "product", "name": f"Work {entry_id}", "quantity": hours,
                             "x_flitstack_hours": hours, "price_unit": rate},
                            {"move_id": ("bills", bill_id)})

    def test_lines_land_with_their_bill_or_in_their_own_batch(self):
        run = self.new_running_run()
        run._job_load_batch("clio_company", "res.partner", [self.planned(
            "clio_company", "contacts", "7", "res.partner", {"name": "Hale & Co", "is_company": True}, {})])
        # the run stages the entries before the bills load: two for bill 1, two for bill 2, one of
        # which Odoo refuses (a unit price that is not a number)
        entries = [self.entry("11", "1", 1.5, 200.0), self.entry("12", "1", 2.0, 150.0),
                   self.entry("21", "2", 1.0, 300.0), self.entry("22", "2", 1.0, "two hundred")]
        batch = self.env["flitstack.run.batch"].create({
            "run_id": run.id, "map_name": "clio_bill_time_entry", "target_model": "account.move.line",
            "record_count": len(entries)})
        for position, payload in enumerate(entries, start=1):
            self.env["flitstack.run.record"].create({
                "run_id": run.id, "batch_id": batch.id, "map_name": "clio_bill_time_entry", "position": position,
                "source_id": payload["source_id"], "xmlid_name": f"activities_{payload['source_id']}",
                "payload": payload})
        bills = [self.planned("clio_bill", "bills", bid, "account.move",
                              {"move_type": "out_invoice", "ref": f"INV-{bid}", "x_flitstack_clio_state": "draft"},
                              {"partner_id": ("contacts", "7")}) for bid in ("1", "2")]

        self.assertEqual(run._job_load_batch("clio_bill", "account.move", bills),
                         "2 create, 2 create (clio_bill_time_entry)")
        module = self.connection.xmlid_module
        first, second = (self.env.ref(f"{module}.bills_{bid}") for bid in ("1", "2"))
        lines = {x: self.env.ref(f"{module}.activities_{x}", raise_if_not_found=False) for x in ("11", "12")}
        self.assertEqual(first.invoice_line_ids, lines["11"] | lines["12"])
        self.assertEqual([(l.name, l.quantity, l.price_unit) for l in first.invoice_line_ids.sorted("id")],
                         [("Work 11", 1.5, 200.0), ("Work 12", 2.0, 150.0)])
        self.assertEqual(first.amount_total, 600.0)
        self.assertFalse(second.invoice_line_ids, "bill 2 could not take its lines: it was created without them")
        self.env.flush_all()
        self.env.cr.execute("SELECT source_id FROM flitstack_run_record WHERE run_id = %s AND landed ORDER BY 1",
                            [run.id])
        self.assertEqual([r for (r,) in self.env.cr.fetchall()], ["11", "12"])

        # the entries' own batch passes the landed ones over and loads the others, each with its outcome
        self.assertEqual(run._job_load_batch("clio_bill_time_entry", "account.move.line", batch_id=batch.id),
                         "1 create, 1 fail, 2 landed with their parent")
        self.assertEqual([(l.name, l.price_unit) for l in second.invoice_line_ids], [("Work 21", 300.0)])
        self.assertEqual(second.amount_total, 300.0)
        audit = run.audit_line_ids.filtered(lambda l: l.map_name == "clio_bill_time_entry").sorted("source_id")
        self.assertEqual([(l.source_id, l.operation, l.model) for l in audit],
                         [("11", "create", "account.move.line"), ("12", "create", "account.move.line"),
                          ("21", "create", "account.move.line"), ("22", "fail", "account.move.line")])
        self.assertEqual([l.res_id for l in audit[:2]], [lines["11"].id, lines["12"].id])
        self.assertNotIn("two hundred", audit[3].message)
