from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    x_flitstack_source_ref = fields.Char(
        string="Source reference", index="btree_not_null", copy=False, readonly=True,
        help="Object and id of the record this partner was migrated from (contacts/1234).")
