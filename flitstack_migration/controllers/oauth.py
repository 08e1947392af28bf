import logging

from odoo import http
from odoo.http import request
from odoo.tools.misc import consteq

_logger = logging.getLogger(__name__)


class FlitstackOAuth(http.Controller):
    """Clio sends the administrator back here after they approve the access."""

    @http.route("/flitstack/oauth/clio/callback", type="http", auth="user")
    def clio_callback(self, code=None, state=None, error=None, **kw):
        if not request.env.user.has_group("base.group_system"):
            return request.not_found()
        conn_id, _sep, signature = (state or "").partition(".")
        conn = request.env["flitstack.connection"].browse(int(conn_id)) if conn_id.isdigit() else None
        if not conn or not conn.exists() or not consteq(signature, conn._oauth_state_signature()):
            _logger.warning("flitstack: OAuth callback with an invalid state was refused")
            return request.make_response("Invalid or expired sign-in request: start again from the connection.", status=400)
        if error or not code:
            conn.write({"state": "error", "last_error": f"Clio refused access ({error or 'no code'}): sign in again and approve."})
        else:
            conn._oauth_complete(code)
        return request.redirect(f"/odoo/flitstack-connections/{conn.id}")
