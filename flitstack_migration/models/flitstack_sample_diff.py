import json

from odoo import api, fields, models


def _text(value):
    if value is None or value is False or value == []:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class FlitstackSampleDiff(models.TransientModel):
    """One field of one record of a sample run: what the source held, what the
    map made of it, what landed in Odoo.  Built from the run's audit lines on
    demand; the admin reads it before approving the full run."""

    _name = "flitstack.sample.diff"
    _description = "Sample run: field-level diff"
    _order = "run_id, map_name, source_id, id"

    run_id = fields.Many2one("flitstack.run", required=True, ondelete="cascade", index=True)
    audit_line_id = fields.Many2one("flitstack.audit.line", ondelete="cascade")
    map_name = fields.Char()
    source_id = fields.Char(string="Source record")
    operation = fields.Selection(related="audit_line_id.operation")
    field_name = fields.Char(string="Field")
    field_label = fields.Char(string="Field label")
    source_path = fields.Char(string="Source")
    source_value = fields.Char()
    mapped_value = fields.Char()
    landed_value = fields.Char()
    status = fields.Selection(
        [("same", "Landed as mapped"), ("differs", "Landed differently"), ("not_landed", "Not landed")],
        required=True)

    @api.model
    def build(self, run):
        """The diff rows of ``run`` (replacing any built before)."""
        self.search([("run_id", "=", run.id)]).unlink()
        lines = self.env["flitstack.audit.line"].search([("run_id", "=", run.id), ("sample_trace", "!=", False)])
        rows = []
        for line in lines:
            model = self.env[line.model] if line.model in self.env else None
            record = model.browse(line.res_id).exists() if model is not None and line.res_id else None
            for fname, trace in sorted(line.sample_trace.items()):
                landed, same = "", False
                field = model._fields.get(fname) if model is not None else None
                if record and field:
                    landed, same = self._landed(record, field, trace.get("mapped"))
                rows.append({
                    "run_id": run.id, "audit_line_id": line.id, "map_name": line.map_name,
                    "source_id": line.source_id, "field_name": fname,
                    "field_label": field.string if field else fname,
                    "source_path": trace.get("source") or "", "source_value": _text(trace.get("value")),
                    "mapped_value": _text(trace.get("mapped")), "landed_value": landed,
                    "status": "not_landed" if not record else ("same" if same else "differs"),
                })
        return self.create(rows)

    @staticmethod
    def _landed(record, field, mapped):
        """``(text of the landed value, whether it is what the map produced)``."""
        value = record[field.name]
        if field.type == "many2one":
            return value.display_name or "", bool(value) == bool(mapped)
        if field.type in ("many2many", "one2many"):
            return ", ".join(value.mapped("display_name")), len(value) == len(mapped or [])
        if field.type in ("date", "datetime"):
            text = field.to_string(value) if value else ""
            return text, text == (mapped or "")
        if field.type == "boolean":
            return ("yes" if value else "no"), bool(value) == bool(mapped)
        if field.type in ("float", "monetary", "integer"):
            try:
                return _text(value), float(value or 0) == float(mapped or 0)
            except (TypeError, ValueError):
                return _text(value), False
        return _text(value), (value or "") == (mapped or "")
