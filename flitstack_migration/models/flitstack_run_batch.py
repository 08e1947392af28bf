from odoo import fields, models


class FlitstackRunBatch(models.Model):
    """At most 500 staged records of one object map, loaded by one job.  The job
    carries the batch's id only; the records stay in :class:`FlitstackRunRecord`
    until the run's data retention has passed, so a failed load is retried
    without reading the source again."""

    _name = "flitstack.run.batch"
    _description = "Migration run: one batch of staged records"
    _order = "run_id, id"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    map_name = fields.Char(required=True, index=True)
    target_model = fields.Char(required=True)
    sequence = fields.Integer(help="1 for the first batch of its object map.")
    record_count = fields.Integer(string="Records")
    state = fields.Selection(
        [("staged", "Waiting for the records it references"), ("queued", "Queued"), ("loaded", "Loaded")],
        default="staged", required=True, index=True)
    result = fields.Char(readonly=True, help="Operations counted when it loaded.")
    record_waits = fields.Boolean(
        help="Waits for the batches holding the records it references (wait_batch_ids), not for the whole "
             "object maps they come from: people at a company whose companies are loaded go ahead while the "
             "rest of the contacts are read.")
    wait_batch_ids = fields.Many2many(
        "flitstack.run.batch", "flitstack_run_batch_wait_rel", "batch_id", "wait_id",
        string="Waits for", help="The batches of the records this batch references, when it waits record by record.")

    def _payload(self):
        """The planned records of the batch, in the order they were read, but those
        already created with their parent record (``landed``)."""
        self.ensure_one()
        self.env.cr.execute("SELECT payload FROM flitstack_run_record WHERE batch_id = %s AND landed IS NOT TRUE "
                            "ORDER BY id", [self.id])
        return [row[0] for row in self.env.cr.fetchall()]


class FlitstackRunRecord(models.Model):
    """One planned record staged by the extraction: the map's output for one
    source record, as the load job reads it.  Unique per run, object map and
    place in the read: a record is read into a run once.  Holds personal data: only the
    run's code reads it (no access right for anyone), and it is deleted when the
    run's data retention has passed."""

    _name = "flitstack.run.record"
    _description = "Migration run: one staged record"
    _log_access = False

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    batch_id = fields.Many2one("flitstack.run.batch", ondelete="set null", index=True)
    map_name = fields.Char(required=True)
    position = fields.Integer(required=True, help="The record's place in the read of its source object, from 1.")
    source_id = fields.Char()
    xmlid_name = fields.Char()
    payload = fields.Json()
    wait_batches = fields.Json(help="Ids of the batches holding the records this one references, once all of "
                                    "them are batched: it is ready to be batched itself (maps that wait record "
                                    "by record).")
    landed = fields.Boolean(help="Created inside its parent's create (a bill's line with its invoice), by the "
                                 "parent's batch: its own batch passes it over.")

    _sql_constraints = [
        # a read resumed from its checkpoint goes on at the next place: nothing before it is staged again.
        # Two rows of an export with one id are two places: the second still fails, with its reason
        ("read_once", "unique(run_id, map_name, position)", "A source record is staged once per run and object map."),
    ]

    def init(self):
        # the extraction cuts batches from the records of a map not yet in one
        self.env.cr.execute("""
            CREATE INDEX IF NOT EXISTS flitstack_run_record_unbatched
            ON flitstack_run_record (run_id, map_name, id) WHERE batch_id IS NULL""")
        # and finds the batches of the records a map waiting record by record references
        self.env.cr.execute("""
            CREATE INDEX IF NOT EXISTS flitstack_run_record_batched_xmlid
            ON flitstack_run_record (run_id, xmlid_name) WHERE batch_id IS NOT NULL""")
