from odoo import fields, models


class FlitstackAuditLine(models.Model):
    """What a run did to one record: the only input of rollback.

    ``old_values`` holds, for updates, the values the run overwrote in write
    format.  ``message`` names fields and problems, never values.
    """

    _name = "flitstack.audit.line"
    _description = "Migration audit line"
    _order = "id"
    _rec_name = "xmlid"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True, readonly=True)
    map_name = fields.Char(readonly=True, index=True)
    source_object = fields.Char(readonly=True)
    source_id = fields.Char(readonly=True)
    row_number = fields.Integer(readonly=True, help="Line in the export file, for file sources.")
    model = fields.Char(readonly=True, index=True)
    res_id = fields.Integer(string="Record id", readonly=True, index=True)
    xmlid = fields.Char(string="External id", readonly=True)
    operation = fields.Selection(
        [("create", "Created"), ("update", "Updated"), ("skip", "Skipped"), ("fail", "Failed")],
        required=True, readonly=True, index=True)
    old_values = fields.Json(readonly=True)
    message = fields.Text(readonly=True)
    rolled_back = fields.Boolean(readonly=True, index=True)
    adopted = fields.Boolean(
        readonly=True, help="The record existed before this run and was matched, not created: "
                            "rollback restores its values and removes only its external id.")
    continuation = fields.Boolean(
        readonly=True, index=True,
        help="A further part of a source record whose text was split over several records (a long note "
             "as several messages). Reconciliation counts the record once, on its first part's line.")

    checksum = fields.Char(
        readonly=True, help="Files: sha256 of the content that landed (or was found unchanged).")
    content_sha1 = fields.Char(
        readonly=True, help="Files: Odoo's checksum (sha1) of that content, which names the stored file.")
    source_version = fields.Char(
        readonly=True, help="Files: what the source said identifies the content (a document version's id "
                            "and etag); equal on a re-run, with the same content in Odoo, means no download.")

    sample_trace = fields.Json(
        readonly=True, help="Sample runs: per target field, the source path and value and the mapped value.")

    def action_open_record(self):
        self.ensure_one()
        if not self.res_id:
            return False
        return {"type": "ir.actions.act_window", "res_model": self.model, "res_id": self.res_id,
                "view_mode": "form", "target": "current"}
