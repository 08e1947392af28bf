import base64
import io
import json
import math
import os
import zipfile
from collections import Counter
from unittest.mock import patch

from odoo.tests import tagged

from flitstack_connectors.blueprints import clio as clio_blueprints

from ..services.blueprints import RATES_PER_JOB
from ..services.extraction import load_slots
from .common import FlitstackCase

CONTACTS, MATTERS = 900, 300


class WorkerDied(Exception):
    """Stands for a worker killed before its job's transaction committed."""


@tagged("post_install", "-at_install", "flitstack")
class TestStagedRun(FlitstackCase):
    """Extract, stage, load: one read per source object, a checkpoint per page,
    batches queued as their references load, job arguments without values."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=CONTACTS, matters=MATTERS, rate_limit=1000, rate_window=60.0)

    def served(self, obj):
        """Pages of ``obj`` Clio served to the run, whatever their field list: its reads and
        the blueprints at its end, which take what the run read from its staged rows."""
        return sum(1 for r in self.clio.request_log if r.path == f"/api/v4/{obj}.json" and r.status == 200)

    def perform(self, trap, die_on=None):
        """Perform trapped jobs in order until none is left; the job for which
        ``die_on(job)`` holds is done once more after its first try is undone."""
        died, performed = [], []
        while trap.enqueued_jobs:
            job = trap.enqueued_jobs.pop(0)
            performed.append(job)
            if job.method_name == "_job_close":
                self.log_at_close = len(self.clio.request_log)
            if die_on and not died and die_on(job):
                died.append(job)
                # the first try reads its page, then its worker dies: nothing of it commits
                with self.assertRaises(WorkerDied), self.env.cr.savepoint():
                    before = list(trap.enqueued_jobs)
                    job.perform()
                    trap.enqueued_jobs = before
                    raise WorkerDied()
                self.env.invalidate_all()
            job.perform()
        return died, performed

    def test_one_read_per_object_a_checkpoint_per_page_and_no_values_in_jobs(self):
        self.clio.clear_log()
        run = self.connection._new_run("full")
        with self.trap_jobs() as trap:
            run.action_start()
            trap.assert_jobs_count(1, only=run._job_extract)
            trap.assert_enqueued_job(run._job_extract, args=(0,))
            # Start sampled the source for pre-flight; count the run's own reads from here
            self.clio.clear_log()
            def third_contacts_page(job):
                extraction = run.extraction_ids.filtered(lambda e: e.source_object == "contacts")
                if job.method_name == "_job_extract" and extraction.pages_read == 2 and extraction.state != "done":
                    return job.args == (extraction.sequence,)
                return False
            died, performed = self.perform(trap, die_on=third_contacts_page)
            arguments = [(call.method.__name__, call.args, call.kwargs) for call in trap.calls]
        self.assertEqual(len(died), 1)
        self.assertEqual(run.state, "done", run.error)
        self.assertTrue(run.reconciled)

        # contacts feed three object maps, read once: 5 pages, and the page whose job died once more
        contacts = run.extraction_ids.filtered(lambda e: e.source_object == "contacts")
        self.assertEqual(contacts.map_names, "clio_company,clio_person,clio_employee")
        self.assertEqual((contacts.pages_read, contacts.records_read, contacts.state), (5, CONTACTS, "done"))
        self.assertEqual(self.served("contacts"), 5 + 1)
        matters = run.extraction_ids.filtered(lambda e: e.source_object == "matters")
        self.assertEqual((matters.pages_read, matters.records_read), (math.ceil(MATTERS / 200), MATTERS))
        self.assertEqual(self.served("matters"), 2)
        for extraction in run.extraction_ids:
            self.assertEqual(self.served(extraction.source_object), extraction.pages_read
                             + (1 if extraction == contacts else 0), extraction.source_object)
        self.assertEqual(len(run.extraction_ids), len(set(run.object_ids.mapped("source_object"))))

        # the blueprints at the run's end: built from what the run staged of matters (their
        # custom rates) and practice areas, and what only they read is read once
        rates = json.loads(zipfile.ZipFile(io.BytesIO(base64.b64decode(run.blueprints_zip))).read("clio_rates.json"))
        with_rates = [m for m in map(lambda i: self.clio.record("matters", i), self.clio.ids("matters"))
                      if m["custom_rate"]["rates"]]
        self.assertTrue(with_rates)
        self.assertEqual(sorted({r["matter"]["id"] for r in rates["items"] if r["level"] == "Matter"}),
                         sorted(str(m["id"]) for m in with_rates))
        log = [r for r in self.clio.request_log if r.status == 200 and r.path.startswith("/api/v4/")]
        lists = Counter(r.path for r in log if "rate_for[matter_id]" not in r.query)
        read_by_run = set(run.extraction_ids.mapped("source_object"))
        for resource in clio_blueprints.FIELDS:
            if resource not in read_by_run:
                self.assertEqual(lists[f"/api/v4/{resource}.json"], 1, resource)
        rate_for = Counter(repr(sorted(r.query.items())) for r in log if "rate_for[matter_id]" in r.query)
        self.assertEqual(set(rate_for.values()), {1})
        # reads (pages, blueprints) on a channel of their own, batches on theirs, as the data says
        channels = {job.method_name: job.channel for job in performed}
        self.assertEqual((channels["_job_extract"], channels["_job_blueprints"], channels["_job_load_batch"]),
                         ("root.flitstack.read", "root.flitstack.read", "root.flitstack.load"))
        # the rates are looked up a few matters per job, each job short at the source's pace
        blueprint_jobs = [job for job in performed if job.method_name == "_job_blueprints"]
        self.assertEqual(len(blueprint_jobs), math.ceil(len(with_rates) / RATES_PER_JOB))
        self.assertFalse(run.blueprints_pending)

        # each record read into the run once, in batches of at most 500, every batch loaded
        counts = self.counts(run)
        self.assertEqual(sum(counts[m][0] for m in ("clio_company", "clio_person", "clio_employee")), CONTACTS)
        self.assertEqual(counts["clio_matter"][:2], (MATTERS, MATTERS))
        self.assertEqual(set(run.batch_ids.mapped("state")), {"loaded"})
        self.assertLessEqual(max(run.batch_ids.mapped("record_count")), 500)
        for obj in run.object_ids:
            batches = run.batch_ids.filtered(lambda b: b.map_name == obj.map_name)
            self.assertEqual(sum(batches.mapped("record_count")), obj.read_count, obj.map_name)
            self.assertEqual(len(batches), obj.batch_count)
        self.assertEqual(self.env["crm.lead"].search_count([("x_flitstack_source_ref", "like", "matters/%")]), MATTERS)
        self.env.cr.execute("""
            SELECT x_flitstack_source_ref FROM res_partner WHERE x_flitstack_source_ref LIKE 'contacts/%%'
            GROUP BY 1 HAVING count(*) > 1""")
        self.assertEqual(self.env.cr.fetchall(), [])

        # loads waited for what they reference: people at a company after every company, matters
        # after every partner; while matters were still to read, partners loaded already
        order = [(job.kwargs.get("batch_id") and job.args[0], job.method_name) for job in performed]
        loads = [name for name, method in order if method == "_job_load_batch"]
        last = {name: max(i for i, n in enumerate(loads) if n == name) for name in set(loads)}
        first = {name: min(i for i, n in enumerate(loads) if n == name) for name in set(loads)}
        self.assertLess(last["clio_company"], first["clio_employee"])
        self.assertLess(max(last[m] for m in ("clio_company", "clio_person", "clio_employee")), first["clio_matter"])
        reads_of_matters = [i for i, job in enumerate(performed) if job.method_name == "_job_extract"
                            and job.args == (matters.sequence,)]
        first_load = min(i for i, job in enumerate(performed) if job.method_name == "_job_load_batch")
        self.assertLess(first_load, max(reads_of_matters))

        names = {self.clio.record("contacts", cid).get("name") for cid in self.clio.ids("contacts")[:100]}
        for method, args, kwargs in arguments:
            text = repr((args, kwargs))
            self.assertFalse([n for n in names if n and n in text], method)
            if method == "_job_load_batch":
                self.assertEqual(set(kwargs), {"batch_id"})

        # retention 0: the staged records go, and the finished jobs keep no arguments or results
        self.env.cr.execute("SELECT count(*) FROM flitstack_run_record WHERE run_id = %s", [run.id])
        self.assertGreater(self.env.cr.fetchone()[0], 0)
        self.env["ir.config_parameter"].sudo().set_param("flitstack_migration.run_data_retention_days", "0")
        self.assertEqual(self.env["flitstack.run"]._cron_purge_run_data(), 1)
        self.env.cr.execute("SELECT count(*) FROM flitstack_run_record WHERE run_id = %s", [run.id])
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        self.assertTrue(run.purged)
        self.assertEqual(self.env["flitstack.run"]._cron_purge_run_data(), 0)

    def test_a_sample_reads_no_further_than_it_needs(self):
        # Start runs pre-flight, which reads a sample of values of its own: count its pages apart
        self.clio.clear_log()
        self.connection._preflight(self.connection.map_id, store=False)
        preflight_pages = self.served("contacts")
        self.clio.clear_log()
        run = self.env["flitstack.run"].create({"connection_id": self.connection.id, "mode": "sample",
                                                "sample_size": 5})
        self.log_at_close = None
        with self.trap_jobs() as trap:
            run.action_start()  # a sample lands in the request (no job runner needed)
            self.run_jobs(trap)
        self.assertEqual(run.state, "done", run.error)
        # people at a company wait for one whose company is in the slice: a few pages, not all 5
        contacts = run.extraction_ids.filtered(lambda e: e.source_object == "contacts")
        self.assertLess(contacts.pages_read, 5)
        self.assertEqual(self.served("contacts"), contacts.pages_read + preflight_pages)
        self.assertEqual(contacts.state, "done")
        self.assertEqual({o.map_name: o.read_count for o in run.object_ids if o.source_object == "contacts"},
                         dict.fromkeys(("clio_company", "clio_person", "clio_employee"), 5))


@tagged("post_install", "-at_install", "flitstack")
class TestRecordWaits(FlitstackCase):
    """People at a company wait for the batches of their own companies, not for every
    company: with companies in two batches, the first batch of people at a company
    loads before the last companies are read."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a fifth of the contacts are companies: 1,000 of them make two batches, the first cut mid-read
        cls.serve_clio(contacts=5000, matters=10, rate_limit=10000, rate_window=60.0)

    def perform(self, trap):
        performed = []
        while trap.enqueued_jobs:
            job = trap.enqueued_jobs.pop(0)
            performed.append(job)
            job.perform()
        return performed

    def referenced_batches(self, run):
        """Batch id of each people-at-a-company batch -> the batch ids of the companies its records name."""
        self.env.cr.execute("""
            SELECT e.batch_id, c.batch_id
              FROM flitstack_run_record e, jsonb_each(e.payload->'refs') ref, flitstack_run_record c
             WHERE e.run_id = %s AND e.map_name = 'clio_employee' AND ref.key = 'parent_id'
               AND c.run_id = e.run_id AND c.map_name = 'clio_company'
               AND c.xmlid_name = (ref.value->>'object') || '_' || (ref.value->>'key')""", [run.id])
        out = {}
        for employee_batch, company_batch in self.env.cr.fetchall():
            out.setdefault(employee_batch, set()).add(company_batch)
        return out

    def test_people_at_a_company_load_after_their_companies_alone(self):
        run = self.connection._new_run("full")
        with self.trap_jobs() as trap:
            run.action_start()
            performed = self.perform(trap)
        self.assertEqual(run.state, "done", run.error)
        self.assertTrue(run.reconciled)
        loads = [job.kwargs["batch_id"] for job in performed if job.method_name == "_job_load_batch"]
        self.assertEqual(len(loads), len(set(loads)), "a batch loaded twice")
        at = {batch_id: i for i, batch_id in enumerate(loads)}
        companies = run.batch_ids.filtered(lambda b: b.map_name == "clio_company")
        employees = run.batch_ids.filtered(lambda b: b.map_name == "clio_employee")
        self.assertEqual(len(companies), 2)
        self.assertGreater(len(employees), 2)
        self.assertTrue(all(employees.mapped("record_waits")))
        # every batch of people at a company loaded after the batches of the companies its records name,
        # and waited for exactly those
        referenced = self.referenced_batches(run)
        self.assertEqual(set(referenced), set(employees.ids))
        for batch in employees:
            self.assertEqual(set(batch.wait_batch_ids.ids), referenced[batch.id], batch.sequence)
            self.assertLess(max(at[c] for c in referenced[batch.id]), at[batch.id], batch.sequence)
        # and one of them went ahead of the last companies, which were read after it was cut
        last_companies = max(at[c] for c in companies.ids)
        self.assertTrue([b for b in employees if at[b.id] < last_companies])
        # each person at a company landed once, as a contact of their own company
        Partner = self.env["res.partner"].with_context(active_test=False)
        people = Partner.search([("x_flitstack_source_ref", "like", "contacts/%"), ("parent_id", "!=", False)])
        expected = {}
        for cid in self.clio.ids("contacts"):
            rec = self.clio.record("contacts", cid)
            if rec["type"] == "Person" and rec.get("company"):
                expected[f"contacts/{cid}"] = f"contacts/{rec['company']['id']}"
        self.assertEqual(len(people), len(expected))
        self.assertEqual({p.x_flitstack_source_ref: p.parent_id.x_flitstack_source_ref for p in people}, expected)

        # a delta of people at a company whose companies did not change: nothing of theirs is staged,
        # so those batches wait for the companies map whole, and the people keep their companies
        changed = [cid for cid in self.clio.ids("contacts")
                   if f"contacts/{cid}" in expected][:7]
        self.clio.touch_contacts(changed)
        delta = self.connection._new_run("delta")
        with self.trap_jobs() as trap:
            delta.action_start()
            self.perform(trap)
        self.assertEqual(delta.state, "done", delta.error)
        self.assertTrue(delta.reconciled)
        batches = delta.batch_ids.filtered(lambda b: b.map_name == "clio_employee")
        self.assertEqual(sum(batches.mapped("record_count")), 7)
        self.assertFalse(any(batches.mapped("record_waits")))
        moved = Partner.search([("x_flitstack_source_ref", "in", [f"contacts/{c}" for c in changed])])
        self.assertEqual({p.x_flitstack_source_ref: p.parent_id.x_flitstack_source_ref for p in moved},
                         {f"contacts/{c}": expected[f"contacts/{c}"] for c in changed})


@tagged("post_install", "-at_install", "flitstack")
class TestEarlyBatches(FlitstackCase):
    """While load slots would stay idle, a map's records are cut into a batch as soon as
    it holds 100 of them, instead of after 500: loading starts with the first pages.  Once
    the run's queued batches fill the load channel, batches hold 500 again."""

    CHANNELS = "root:3,root.flitstack:3,root.flitstack.read:1,root.flitstack.load:2"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.serve_clio(contacts=2000, matters=10, rate_limit=10000, rate_window=60.0)

    def test_load_slots_come_from_queue_jobs_configuration(self):
        with patch.dict(os.environ, {"ODOO_QUEUE_JOB_CHANNELS": self.CHANNELS}):
            self.assertEqual(load_slots(), 2)
        with patch.dict(os.environ, {"ODOO_QUEUE_JOB_CHANNELS": "root:4,root.flitstack.load:3:throttle=0"}):
            self.assertEqual(load_slots(), 3)
        # a configuration without the load channel: no early batches
        with patch.dict(os.environ, {"ODOO_QUEUE_JOB_CHANNELS": "root:4"}):
            self.assertIsNone(load_slots())

    def test_idle_slots_get_early_batches_and_full_slots_get_full_ones(self):
        run = self.connection._new_run("full")
        contacts_maps = ("clio_company", "clio_person", "clio_employee")
        pages, held = [], []
        with patch.dict(os.environ, {"ODOO_QUEUE_JOB_CHANNELS": self.CHANNELS}), self.trap_jobs() as trap:
            run.action_start()
            contacts = run.extraction_ids.filtered(lambda e: e.source_object == "contacts")
            while trap.enqueued_jobs:
                job = trap.enqueued_jobs.pop(0)
                if (job.method_name == "_job_load_batch" and job.args[0] in contacts_maps
                        and contacts.state != "done"):
                    held.append(job)  # the loads wait: their batches stay queued, the slots full
                    continue
                if job.method_name == "_job_extract" and job.args == (contacts.sequence,):
                    queued = len(run.batch_ids.filtered(lambda b: b.state == "queued"))
                    before = set(run.batch_ids.ids)
                    job.perform()
                    new = run.batch_ids.filtered(lambda b: b.id not in before)
                    pages.append((queued, contacts.state == "done", [(b.map_name, b.record_count) for b in new]))
                    if contacts.state == "done":
                        trap.enqueued_jobs[:0] = held
                        held = []
                    continue
                job.perform()
        self.assertEqual(run.state, "done", run.error)
        self.assertTrue(run.reconciled)
        self.assertEqual(contacts.pages_read, 10)

        early = [(queued, cut) for queued, last, cut in pages if not last for name, count in cut if count < 500]
        # the first pages, with both slots idle, cut batches of 100 or more but fewer than 500
        self.assertTrue(early)
        for queued, last, cut in pages:
            if last:
                continue
            small = [count for _name, count in cut if count < 500]
            self.assertLessEqual(len(small), max(0, 2 - queued), (queued, cut))
            self.assertTrue(all(count >= 100 for count in small), cut)
        # once two batches wait in the channel, every batch cut before the read's end holds 500
        full_from = next(i for i, (queued, _last, _cut) in enumerate(pages) if queued >= 2)
        for queued, last, cut in pages[full_from:]:
            if not last:
                self.assertTrue(all(count == 500 for _name, count in cut), cut)
        # every contact read once, batched once, loaded once
        batches = run.batch_ids.filtered(lambda b: b.map_name in contacts_maps)
        self.assertEqual(sum(batches.mapped("record_count")), 2000)
        self.assertEqual(set(batches.mapped("state")), {"loaded"})
        self.env.cr.execute("SELECT count(*), count(DISTINCT (map_name, position)) FROM flitstack_run_record "
                            "WHERE run_id = %s AND map_name = ANY(%s) AND batch_id IS NOT NULL",
                            [run.id, list(contacts_maps)])
        self.assertEqual(self.env.cr.fetchone(), (2000, 2000))
        self.assertEqual(self.env["res.partner"].with_context(active_test=False).search_count(
            [("x_flitstack_source_ref", "like", "contacts/%")]), 2000)
        # people at a company cut early still waited for the batches of their own companies
        for batch in run.batch_ids.filtered(lambda b: b.map_name == "clio_employee" and b.record_waits):
            self.env.cr.execute("""
                SELECT DISTINCT c.batch_id
                  FROM flitstack_run_record e, jsonb_each(e.payload->'refs') ref, flitstack_run_record c
                 WHERE e.batch_id = %s AND ref.key = 'parent_id' AND c.run_id = e.run_id
                   AND c.map_name = 'clio_company'
                   AND c.xmlid_name = (ref.value->>'object') || '_' || (ref.value->>'key')""", [batch.id])
            self.assertEqual({r[0] for r in self.env.cr.fetchall()}, set(batch.wait_batch_ids.ids))
