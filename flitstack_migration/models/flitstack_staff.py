from odoo import api, fields, models


class FlitstackStaff(models.Model):
    """A staff member of the source (Clio user, Cliniko practitioner,
    Clientjoy owner) and the Odoo user that owns their records."""

    _name = "flitstack.staff"
    _description = "Source staff member"
    _order = "connection_id, name"

    connection_id = fields.Many2one("flitstack.connection", required=True, ondelete="cascade", index=True)
    source_id = fields.Char(required=True)
    name = fields.Char()
    email = fields.Char()
    user_id = fields.Many2one("res.users", string="Odoo user")
    match = fields.Selection(
        [("email", "Matched by email"), ("manual", "Chosen by hand"), ("fallback", "Fallback owner"),
         ("none", "Unmatched")], compute="_compute_match", store=True)

    _sql_constraints = [
        ("source_unique", "unique(connection_id, source_id)", "A source staff member is listed once per connection."),
    ]

    @api.depends("user_id", "email", "connection_id.fallback_user_id")
    def _compute_match(self):
        for staff in self:
            if staff.user_id:
                email = (staff.email or "").strip().casefold()
                staff.match = "email" if email and email == (staff.user_id.email or "").strip().casefold() \
                    else "manual"
            elif staff.connection_id.fallback_user_id:
                staff.match = "fallback"
            else:
                staff.match = "none"
