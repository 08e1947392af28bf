from odoo import api, fields, models

_OPERATIONS = ("create", "update", "skip", "fail")


class FlitstackRunObject(models.Model):
    """Counts of one object map in one run.  ``read`` (records staged for the
    map) and ``batches`` grow with every page the extraction stages; the other
    counts come from the audit lines, so they can never disagree with the log
    rollback works from."""

    _name = "flitstack.run.object"
    _description = "Migration run: one object map"
    _order = "run_id, sequence"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer()
    map_name = fields.Char(required=True)
    source_object = fields.Char(required=True)
    target_model = fields.Char(required=True)
    read_count = fields.Integer(string="Read")
    batch_count = fields.Integer(string="Batches")
    created_count = fields.Integer(string="Created", compute="_compute_counts")
    updated_count = fields.Integer(string="Updated", compute="_compute_counts")
    skipped_count = fields.Integer(string="Skipped", compute="_compute_counts")
    failed_count = fields.Integer(string="Failed", compute="_compute_counts")
    done_count = fields.Integer(string="Processed", compute="_compute_counts")
    reconciled = fields.Boolean(compute="_compute_counts",
                                help="Read = created + updated + skipped + failed")

    @api.depends("read_count")
    def _compute_counts(self):
        groups = self.env["flitstack.audit.line"]._read_group(
            [("run_id", "in", self.run_id.ids), ("continuation", "=", False)],
            ["run_id", "map_name", "operation"], ["__count"])
        counts = {(run.id, map_name, op): n for run, map_name, op, n in groups}
        for obj in self:
            key = (obj.run_id.id, obj.map_name)
            c = {op: counts.get(key + (op,), 0) for op in _OPERATIONS}
            obj.created_count = c["create"]
            obj.updated_count = c["update"]
            obj.skipped_count = c["skip"]
            obj.failed_count = c["fail"]
            obj.done_count = sum(c.values())
            obj.reconciled = obj.read_count == obj.done_count
