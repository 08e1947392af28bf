"""What the connection, map and run forms offer an administrator, step by step.

- *New run* waits for a confirmed map, and opens a run the admin chooses the
  kind of (a sample first, then a full run) instead of creating a full run.
- *Refresh staff* and *Create missing users* show only on a saved connection
  whose map gives records an owner from the source's staff (a clinic export's
  practitioners become contacts: there is nothing to match).
- *Provision fields* names the fields it had to leave out because their app is
  not installed, and the map offers to install those apps.
- A sample run of a few dozen records per object map lands in the request
  itself: the admin sees its field diff before any job runner is set up.
"""
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError

from flitstack_connectors.mapping import load_pack

from ..services.job_watch import notification
from .flitstack_connection import DEFAULT_PACKS
from ..services.provisioning import sanitize_field_name

#: a sample of at most this many records per object map runs in the request
SAMPLE_IN_REQUEST = 50

#: the app (module, name) that brings a target model of the packs
MODEL_APPS = {
    "sale.order": ("sale_management", "Sales"),
    "sale.order.line": ("sale_management", "Sales"),
    "product.template": ("sale_management", "Sales"),
    "product.product": ("sale_management", "Sales"),
    "account.move": ("account", "Invoicing"),
    "account.move.line": ("account", "Invoicing"),
    "account.payment": ("account", "Invoicing"),
    "account.journal": ("account", "Invoicing"),
    "account.account": ("account", "Invoicing"),
    "calendar.event": ("calendar", "Calendar"),
    "project.project": ("project", "Project"),
    "project.task": ("project", "Project"),
    "helpdesk.ticket": ("helpdesk", "Helpdesk"),
}


def app_of(model):
    """``(module, app name)`` of ``model``; the model itself when no app is known."""
    return MODEL_APPS.get(model, (False, model))


class FlitstackConnection(models.Model):
    _inherit = "flitstack.connection"

    map_state = fields.Selection(related="map_id.state", string="Map state")
    staff_applicable = fields.Boolean(
        compute="_compute_staff_applicable",
        help="The map gives records an owner from the source's staff (matched to Odoo users).")

    @api.depends("map_id.spec_json", "kind")
    def _compute_staff_applicable(self):
        for conn in self:
            # before any map, the default map of the kind of source says (the one Refresh staff would create)
            spec = conn.map_id._spec() if conn.map_id else load_pack(DEFAULT_PACKS[conn.kind]) if conn.kind else None
            conn.staff_applicable = bool(spec and conn._staff_objects(spec))

    def action_new_run(self):
        """Open a new run (not saved yet): a sample first, a full run once a sample is done."""
        self.ensure_one()
        cmap = self.map_id
        if not cmap or cmap.state != "confirmed":
            raise UserError(_(
                "The map of %s is not confirmed yet: open it (Current map), review its rows and press Confirm; "
                "runs start from a confirmed map.", self.display_name))
        sampled = self.run_ids.filtered(lambda r: r.mode == "sample" and r.state == "done")
        return {
            "type": "ir.actions.act_window", "res_model": "flitstack.run", "view_mode": "form", "target": "current",
            "name": _("New run"),
            "context": {"default_connection_id": self.id, "default_mode": "full" if sampled else "sample"},
        }

    def action_open_map(self):
        self.ensure_one()
        cmap = self._ensure_map()
        return {"type": "ir.actions.act_window", "res_model": "flitstack.map", "res_id": cmap.id,
                "view_mode": "form", "target": "current"}


class FlitstackMap(models.Model):
    _inherit = "flitstack.map"

    missing_app_summary = fields.Text(
        compute="_compute_missing_apps", string="Apps to install",
        help="Custom fields of the map that cannot be created because their app is not installed, by app.")
    missing_app_modules = fields.Char(compute="_compute_missing_apps")

    def _missing_apps(self):
        """``{(module, app): [model.field]}`` of the custom fields left out for lack of their app."""
        self.ensure_one()
        spec = self._spec()
        provisioner = self.connection_id._provisioner()
        out = {}
        for cf in spec.custom_fields:
            if provisioner.installable(cf):
                continue
            model = cf.model if cf.model not in self.env else cf.relation
            out.setdefault(app_of(model), []).append(f"{cf.model}.{sanitize_field_name(cf.name)}")
        return out

    @api.depends("spec_json", "connection_id")
    def _compute_missing_apps(self):
        for m in self:
            apps = m._missing_apps() if m.spec_json and m.connection_id else {}
            m.missing_app_summary = "\n".join(
                m.env._("%(app)s: %(count)s fields (%(names)s)", app=app, count=len(names), names=", ".join(names))
                for (_module, app), names in sorted(apps.items(), key=lambda kv: kv[0][1])) or False
            m.missing_app_modules = ",".join(sorted({module for module, _app in apps if module})) or False

    def action_provision_fields(self):
        action = super().action_provision_fields()
        if len(self) != 1 or not isinstance(action, dict):
            return action
        apps = self._missing_apps()
        if apps:
            left = sum(len(names) for names in apps.values())
            action["params"].update(type="warning", sticky=True, message=_(
                "%(done)s %(left)s fields wait for apps that are not installed: %(apps)s. Install them "
                "(Install apps, on the map), then press Provision fields again.",
                done=action["params"]["message"], left=left,
                apps=", ".join(sorted(app for _module, app in apps))))
        return action

    def action_install_apps(self):
        """The Apps list with the apps the map's left-out fields need."""
        self.ensure_one()
        modules = (self.missing_app_modules or "").split(",")
        if not modules or modules == [""]:
            raise UserError(_("Every app the map needs is installed."))
        action = self.env["ir.actions.act_window"]._for_xml_id("base.open_module_tree")
        action.update(domain=[("name", "in", modules)], context={}, name=_("Apps the map needs"),
                      view_mode="list,form", views=[(False, "list"), (False, "form")])
        return action


class FlitstackMapLine(models.Model):
    _inherit = "flitstack.map.line"

    def _compute_target_label(self):
        super()._compute_target_label()
        for line in self.filtered(lambda l: not l.target_label and l.target_model and l.target_model not in self.env):
            line.target_label = _("needs the %s app", app_of(line.target_model)[1])


#: ``{(database, run id): [(records, method, args, kwargs)]}``: the jobs of samples running in a request
_INLINE_QUEUES = {}


class _InlineDelay:
    """What ``with_delay()`` gives inside a sample run in the request: the call is
    queued in the request's own list, and performed in order after the caller
    returned, as the job runner would (never nested inside the caller)."""

    def __init__(self, records, queue):
        self._records, self._queue = records, queue

    def __getattr__(self, name):
        def delay(*args, **kwargs):
            self._queue.append((self._records, name, args, kwargs))
        return delay


class FlitstackRun(models.Model):
    _inherit = "flitstack.run"

    def with_delay(self, *args, **kwargs):
        queue = _INLINE_QUEUES.get((self.env.cr.dbname, self.id)) if len(self) == 1 else None
        if queue is not None:
            return _InlineDelay(self, queue)
        return super().with_delay(*args, **kwargs)

    def _runs_in_request(self):
        self.ensure_one()
        return self.mode == "sample" and 0 < self.sample_size <= SAMPLE_IN_REQUEST

    def action_start(self):
        """A small sample runs here and now, its jobs performed in the request."""
        inline = self.filtered(lambda r: r._runs_in_request())
        if self - inline:
            super(FlitstackRun, self - inline).action_start()
        for run in inline:
            key = (self.env.cr.dbname, run.id)
            queue = _INLINE_QUEUES[key] = []
            try:
                super(FlitstackRun, run).action_start()
                performed = 0
                while queue:
                    records, method, args, kwargs = queue.pop(0)
                    getattr(records, method)(*args, **kwargs)
                    performed += 1
                    if performed > 10000:
                        raise UserError(_("The sample of %s did not come to an end: start it as a run with jobs "
                                          "(a sample size above %s).", run.display_name, SAMPLE_IN_REQUEST))
            except RetryableJobError:
                raise UserError(_("The source asks to slow down: start the sample again in a minute.")) from None
            finally:
                _INLINE_QUEUES.pop(key, None)
        if len(self) == 1 and inline:
            if self.state == "done":
                return notification(_("Sample landed"), _(
                    "%(count)s records moved: press Field diff to compare them, field by field, with the source.",
                    count=sum(self.object_ids.mapped("read_count"))), "success")
            return notification(_("Sample failed"), self.error or "", "danger", sticky=True)
        return True


class FlitstackMapFinding(models.Model):
    _inherit = "flitstack.map.finding"

    category = fields.Selection(selection_add=[("staff", "Staff and owners")], ondelete={"staff": "cascade"})
