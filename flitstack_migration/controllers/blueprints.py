from odoo import http
from odoo.http import content_disposition, request

from ..services.blueprints import RunBlueprints


class FlitstackBlueprints(http.Controller):
    """The run form's "Download blueprints": one zip of the run's blueprint documents."""

    @http.route("/flitstack/runs/<int:run_id>/blueprints.zip", type="http", auth="user")
    def run_blueprints(self, run_id, **kw):
        if not request.env.user.has_group("base.group_system"):
            return request.not_found()
        run = request.env["flitstack.run"].browse(run_id).exists()
        content = RunBlueprints(run).zip() if run else None
        if not content:
            return request.not_found()
        return request.make_response(content, headers=[
            ("Content-Type", "application/zip"),
            ("Content-Disposition", content_disposition(f"flitstack-run-{run.id}-blueprints.zip"))])
