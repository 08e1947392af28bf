from odoo import _, api, fields, models
from odoo.exceptions import UserError


class FlitstackAuditLine(models.Model):
    """An audit line links to the record it migrated, while that record exists;
    ids and row numbers are labels, never summed in grouped lists."""

    _inherit = "flitstack.audit.line"

    res_id = fields.Integer(aggregator=False)
    row_number = fields.Integer(aggregator=False)
    record_ref = fields.Reference(selection="_selection_record_models", compute="_compute_record_ref",
                                  string="Migrated record",
                                  help="The record this line created or updated; empty once it was rolled back.")
    record_state = fields.Char(compute="_compute_record_ref", string="Record")

    @api.model
    def _selection_record_models(self):
        return [(m.model, m.name) for m in self.env["ir.model"].sudo().search([])]

    @api.depends("model", "res_id", "rolled_back")
    def _compute_record_ref(self):
        alive = {}
        for model, lines in self.grouped(lambda l: l.model or "").items():
            if model in self.env and lines:
                ids = {l.res_id for l in lines if l.res_id}
                alive[model] = set(self.env[model].sudo().browse(list(ids)).exists().ids)
        for line in self:
            exists = line.res_id in alive.get(line.model or "", ())
            line.record_ref = f"{line.model},{line.res_id}" if exists and not line.rolled_back else False
            if not line.res_id:
                line.record_state = _("no record") if line.operation == "fail" else False
            elif line.rolled_back and not exists:
                line.record_state = _("removed by the rollback")
            elif not exists:
                line.record_state = _("deleted since")
            elif line.rolled_back:
                line.record_state = _("restored by the rollback")
            else:
                line.record_state = _("in Odoo")

    def action_open_record(self):
        self.ensure_one()
        if not self.res_id:
            raise UserError(_("This line has no record: %s", self.message or _("it was not loaded.")))
        if self.model not in self.env or not self.env[self.model].sudo().browse(self.res_id).exists():
            if self.rolled_back:
                raise UserError(_("%(model)s %(id)s was removed by the rollback of run %(run)s: nothing to open.",
                                  model=self.model, id=self.res_id, run=self.run_id.display_name))
            raise UserError(_("%(model)s %(id)s no longer exists: it was deleted after run %(run)s.",
                              model=self.model, id=self.res_id, run=self.run_id.display_name))
        return super().action_open_record()


class FlitstackMapLine(models.Model):
    _inherit = "flitstack.map.line"

    # a grouped map shows how sure its rows are on average, not their sum
    confidence = fields.Float(aggregator="avg")
    sequence = fields.Integer(aggregator=False)


class FlitstackQualityFinding(models.Model):
    _inherit = "flitstack.quality.finding"

    row_number = fields.Integer(aggregator=False)
