from odoo import fields, models


class FlitstackProvisionedField(models.Model):
    """A custom field created for a map, so that unused ones can be removed later."""

    _name = "flitstack.provisioned.field"
    _description = "Custom field created by a migration map"
    _order = "id"

    connection_id = fields.Many2one("flitstack.connection", required=True, ondelete="cascade", index=True)
    field_id = fields.Many2one("ir.model.fields", ondelete="cascade", required=True)
    model = fields.Char(related="field_id.model", store=True)
    name = fields.Char(related="field_id.name", store=True)
    ttype = fields.Selection(related="field_id.ttype")
