"""What the end-to-end tests of the Cliniko, Clientjoy and clinic CSV sources share.

A class migrates its generated account once, in ``setUpClass``, through the
real queue jobs (trapped and performed in order); each test method then works
on that state inside its own savepoint, so a re-run or a rollback in one
method does not leak into the next.
"""
from odoo.tests.common import TransactionCase

from flitstack_connectors.records import external_id_name

from odoo.addons.queue_job.tests.common import trap_jobs

#: tables whose sizes a rollback must restore (those of apps not installed are left out)
COUNTED_MODELS = (
    "res.partner", "crm.lead", "crm.tag", "crm.team", "crm.stage", "mail.message", "mail.activity",
    "mail.followers", "mail.alias", "ir.model.data", "product.template", "product.product", "sale.order",
    "sale.order.line",
)


class SourceRunCase(TransactionCase):
    kind = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, no_reset_password=True))
        cls.fallback_user = cls.env["res.users"].create({
            "name": "Fallback Owner", "login": "fallback.owner@firm.example", "email": "fallback.owner@firm.example"})

    @classmethod
    def make_connection(cls, kind=None, **vals):
        """A connection of ``kind`` (``cls.kind``) with its default map provisioned and confirmed."""
        kind = kind or cls.kind
        connection = cls.env["flitstack.connection"].create(dict({
            "name": f"Test {kind}", "kind": kind, "state": "connected",
            "fallback_user_id": cls.fallback_user.id}, **vals))
        cmap = connection._ensure_map()
        cmap.action_provision_fields()
        cmap.action_confirm()
        return connection

    @classmethod
    def create_users(cls, emails):
        return cls.env["res.users"].create([{"name": e.split("@")[0], "login": e, "email": e} for e in emails])

    @staticmethod
    def run_jobs(trap):
        """Perform trapped jobs until none is left (jobs enqueue further jobs)."""
        rounds = 0
        while trap.enqueued_jobs:
            trap.perform_enqueued_jobs()
            rounds += 1
            assert rounds < 1000, "jobs keep enqueuing jobs"

    @classmethod
    def start_run(cls, connection, mode="full", before_jobs=None):
        """A run started by the button and carried through every job it enqueues;
        ``before_jobs`` is called between the start and the first job."""
        run = connection._new_run(mode)
        with trap_jobs() as trap:
            run.action_start()
            trap.assert_jobs_count(1, only=run._job_extract)
            trap.assert_enqueued_job(run._job_extract, args=(0,))
            if before_jobs:
                before_jobs()
            cls.run_jobs(trap)
        return run

    def rollback(self, run):
        with trap_jobs() as trap:
            run.action_rollback()
            self.assertEqual(run.state, "rolling_back")
            trap.assert_jobs_count(1, only=run._job_rollback)
            self.run_jobs(trap)
        self.assertEqual(run.state, "rolled_back")

    @classmethod
    def table_counts(cls):
        """Sizes of the migrated tables; chatter of the runs themselves ("Run started") is left out."""
        own = {"mail.message": [("model", "not like", "flitstack.%")],
               "mail.followers": [("res_model", "not like", "flitstack.%")]}
        return {m: cls.env[m].sudo().with_context(active_test=False).search_count(own.get(m, []))
                for m in COUNTED_MODELS if m in cls.env}

    @staticmethod
    def counts(run):
        """``{map: (read, created, updated, skipped, failed)}``."""
        run.object_ids.invalidate_recordset()
        return {o.map_name: (o.read_count, o.created_count, o.updated_count, o.skipped_count, o.failed_count)
                for o in run.object_ids}

    def assert_closes(self, run):
        """Reconciliation closes for every object map: read = created + updated + skipped + failed."""
        self.assertEqual(run.state, "done", run.error)
        for name, (read, created, updated, skipped, failed) in self.counts(run).items():
            self.assertEqual(read, created + updated + skipped + failed, name)
        self.assertTrue(run.reconciled)

    @staticmethod
    def lines(run, map_name, operation):
        """``{source id: audit line}`` of one map and operation (first parts only)."""
        found = run.audit_line_ids.filtered(
            lambda l: l.map_name == map_name and l.operation == operation and not l.continuation)
        return {l.source_id: l for l in found}

    def assert_rerun_creates_nothing(self, connection, first):
        before = self.table_counts()
        second = self.start_run(connection)
        self.assert_closes(second)
        first_counts, second_counts = self.counts(first), self.counts(second)
        for name, (read, created, updated, skipped, failed) in second_counts.items():
            self.assertEqual((created, updated), (0, 0), name)
            # what loaded the first time is unchanged now; what failed fails again
            self.assertEqual((read, failed), (first_counts[name][0], first_counts[name][4]), name)
        self.assertEqual(self.table_counts(), before)
        return second

    def failed_ref(self, field, source_object, source_id):
        """The reason of a record whose reference ``field`` names a record that failed in the same run."""
        name = external_id_name(source_object, source_id)
        return (f"{field}: the referenced {source_object} record {source_id} "
                f"({self.connection.xmlid_module}.{name}) failed to load in this run")

    def assert_no_personal_data(self, run, values):
        """No audit line message and no chatter message of the run holds any of ``values``."""
        texts = [m or "" for m in run.audit_line_ids.mapped("message")] + \
                [str(b) for b in run.message_ids.mapped("body")] + [run.error or ""]
        for value in values:
            if value and len(value) >= 4:
                self.assertFalse([t for t in texts if value in t], "a value of the source reached the audit log")
