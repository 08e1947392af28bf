from odoo import fields, models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    x_flitstack_source_ref = fields.Char(
        string="Source reference", index="btree_not_null", copy=False, readonly=True,
        help="Object and id of the record this lead was migrated from (matters/1234).")
