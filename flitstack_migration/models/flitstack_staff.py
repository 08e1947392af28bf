from odoo import _, api, fields, models
from odoo.exceptions import UserError


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
    record_count = fields.Integer(
        string="Records owned", readonly=True,
        help="Records of the source the map gives this staff member (a matter's responsible attorney, "
             "a patient's practitioner …), as counted by Refresh staff.")
    record_summary = fields.Char(string="Records per object map", readonly=True)

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

    def action_create_user(self):
        """Create an Odoo user (login and email from the source) for each staff member without one."""
        Users = self.env["res.users"].sudo().with_context(no_reset_password=True)
        for staff in self.filtered(lambda s: not s.user_id):
            email = (staff.email or "").strip()
            if not email:
                raise UserError(_("Staff member %s has no email in the source: pick their Odoo user by hand "
                                  "or choose a fallback owner.", staff.source_id))
            user = Users.with_context(active_test=False).search(
                ["|", ("email", "=ilike", email), ("login", "=ilike", email)], limit=1)
            if not user:
                user = Users.create({"name": staff.name or email, "login": email.lower(), "email": email})
            staff.user_id = user
        return True
