import json

from odoo.tests import tagged

from .common import FlitstackCase


@tagged("post_install", "-at_install", "flitstack")
class TestSampleRun(FlitstackCase):
    """A sample run moves a slice of every object map and shows, field by field,
    the source value, the mapped value and the value that landed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=60, matters=30, rate_limit=1000, rate_window=60.0)

    def test_sample_run_diff(self):
        run = self.env["flitstack.run"].create({"connection_id": self.connection.id, "mode": "sample",
                                                "sample_size": 5})
        with self.trap_jobs() as trap:
            run.action_start()
            self.run_jobs(trap)
        self.assertEqual(run.state, "done", run.error)
        # every object map of the account's contacts and matters takes 5; an account without
        # bills holds fewer money records than that (its 2 bank accounts) or none
        core = ("clio_practice_area", "clio_company", "clio_person", "clio_employee", "clio_matter")
        reads = {o.map_name: o.read_count for o in run.object_ids}
        self.assertEqual({m: reads.pop(m) for m in core}, dict.fromkeys(core, 5))
        self.assertEqual(reads.pop("clio_bank_journal", 2), 2)
        self.assertEqual(set(reads.values()) - {0, 5}, set())
        self.assertTrue(run.reconciled)

        action = run.action_field_diff()
        diff = self.env["flitstack.sample.diff"].search(action["domain"])
        spec = run._spec()
        rows_per_record = {om.name: len(om.fields) + len(om.lookups) for om in spec.objects}
        self.assertEqual(len(diff), sum(o.read_count * rows_per_record[o.map_name] for o in run.object_ids))

        # a company, field by field, against the emulator's own record
        company = run.audit_line_ids.filtered(lambda l: l.map_name == "clio_company" and l.operation == "create")[0]
        source = self.clio.record("contacts", int(company.source_id))
        rows = {d.field_name: d for d in diff if d.audit_line_id == company}
        partner = self.env["res.partner"].browse(company.res_id)
        self.assertEqual((rows["name"].source_path, rows["name"].source_value, rows["name"].mapped_value,
                          rows["name"].landed_value, rows["name"].status),
                         ("name", source["name"], source["name"].strip(), partner.name, "same"))
        email = source.get("primary_email_address") or ""
        self.assertEqual((rows["email"].source_value, rows["email"].mapped_value, rows["email"].landed_value,
                          rows["email"].status), (email, email.lower(), partner.email or "", "same"))
        self.assertEqual((rows["create_date"].source_path, rows["create_date"].landed_value, rows["create_date"].status),
                         ("created_at", rows["create_date"].mapped_value, "same"))

        # the slice is coherent: matters of sampled clients, people of sampled companies, so all land
        # (the bank accounts' journals are skipped where Invoicing is not installed)
        core_lines = run.audit_line_ids.filtered(lambda l: l.map_name in core)
        self.assertEqual(set(core_lines.mapped("operation")), {"create"})
        self.assertFalse(diff.filtered(lambda d: d.status == "not_landed" and d.audit_line_id.map_name in core))
        for lead in self.env["crm.lead"].browse(run.audit_line_ids.filtered(lambda l: l.model == "crm.lead").mapped("res_id")):
            self.assertTrue(lead.partner_id.x_flitstack_source_ref)
        # a matter's description lands in an HTML field: the diff shows the difference
        differs = diff.filtered(lambda d: d.status == "differs")
        self.assertTrue(differs)
        self.assertEqual(set(differs.mapped("field_name")), {"description", "tag_ids"})
        for row in differs.filtered(lambda d: d.field_name == "description"):
            self.assertEqual(row.landed_value, f"<p>{row.mapped_value}</p>")
        # a practice area outside the slice: the tag is missing, and the audit line says why
        for row in differs.filtered(lambda d: d.field_name == "tag_ids"):
            self.assertEqual(row.landed_value, "")
            area = json.loads(row.mapped_value)[0]
            self.assertIn(f"tag_ids: the referenced practice_areas record {area} has not been migrated",
                          row.audit_line_id.message)

        # building it again replaces the rows; a full run records no trace
        run.action_field_diff()
        self.assertEqual(self.env["flitstack.sample.diff"].search_count([("run_id", "=", run.id)]), len(diff))
        self.assertFalse(self.new_running_run().audit_line_ids.filtered("sample_trace"))
