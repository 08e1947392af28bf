from odoo import fields, models


class FlitstackRunExtraction(models.Model):
    """The read of one source object in one run, whatever the number of object
    maps that use it.  Each page read is a checkpoint: its records are staged
    and its cursor (Clio's next-page link, a file offset) is stored in the same
    transaction, so a read that dies resumes after the last page it staged."""

    _name = "flitstack.run.extraction"
    _description = "Migration run: the read of one source object"
    _order = "run_id, sequence"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(required=True)
    source_object = fields.Char(required=True)
    map_names = fields.Char(string="Object maps", help="The object maps that read this object, comma-separated.")
    state = fields.Selection([("pending", "Waiting"), ("reading", "Reading"), ("done", "Read")],
                             default="pending", required=True)
    cursor = fields.Json(copy=False, help="Where the read resumes: the page after the last one staged.")
    pace = fields.Json(copy=False, help="The rate limiter's state after the last page, for the next job.")
    pages_read = fields.Integer(string="Pages", readonly=True)
    records_read = fields.Integer(string="Source records", readonly=True)
    started_at = fields.Datetime(readonly=True)
    ended_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("run_object_unique", "unique(run_id, source_object)", "A run reads each source object once."),
    ]

    def _map_name_list(self):
        return [n for n in (self.map_names or "").split(",") if n]
