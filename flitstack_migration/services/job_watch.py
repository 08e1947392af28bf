"""Whether the queue jobs of a run (or of a data-quality check) are being taken.

queue_job's job runner moves a job from *pending* to *enqueued* and a worker
then *starts* it.  Without a runner (Odoo started without
``server_wide_modules = base,web,queue_job``) jobs stay pending for ever and
the admin sees "Running" with nothing moving.  A job that has waited longer
than :data:`WAIT_SECONDS` while no job of the database was started in that
time means no runner works on this server: the form then says so, with the
settings to add.
"""
from datetime import timedelta

from odoo import fields

#: how long a job may wait before the form explains why
WAIT_SECONDS = 60

#: what a server needs in its configuration file for queue jobs to run
RUNNER_SETTINGS = (
    "server_wide_modules = base,web,queue_job\n"
    "workers = 3   (the source's read, and two batches loading beside it)\n"
    "[queue_job]\n"
    "channels = root:3,root.flitstack:3,root.flitstack.read:1,root.flitstack.load:2"
)

_QUEUED = ("pending", "enqueued")


def jobs_of(env, records, method=None):
    """The queue jobs of ``records`` (one model), optionally of one method."""
    pattern = "%s(%s,).%s%%"
    domain = [("model_name", "=", records._name)]
    ors = [("func_string", "=like", pattern % (records._name, rid, method or "")) for rid in records.ids]
    if not ors:
        return env["queue.job"].sudo().browse()
    domain += ["|"] * (len(ors) - 1) + ors
    return env["queue.job"].sudo().search(domain)


def waiting_message(env, jobs):
    """A plain sentence when ``jobs`` wait for a runner that does not come, else False."""
    now = fields.Datetime.now()
    since = now - timedelta(seconds=WAIT_SECONDS)
    waiting = jobs.filtered(lambda j: j.state in _QUEUED and j.date_created and j.date_created <= since
                            and (not j.eta or j.eta <= now))
    if not waiting:
        return False
    taken = env["queue.job"].sudo().search_count(
        ["|", ("state", "=", "started"), ("date_started", ">=", since)], limit=1)
    if taken:
        return False  # a runner works: these jobs wait their turn in the channel
    minutes = max(1, int((now - min(waiting.mapped("date_created"))).total_seconds() // 60))
    return env._(
        "%(count)s jobs have waited %(minutes)s minutes and no worker has taken any job: queue_job's job "
        "runner is not running on this server. Add these lines to the Odoo configuration file and restart "
        "Odoo; the waiting jobs then start by themselves:\n%(settings)s",
        count=len(waiting), minutes=minutes, settings=RUNNER_SETTINGS)


def notification(title, message, kind="info", sticky=False, next_action=None):
    """A ``display_notification`` client action, then ``next_action`` (default: reload the form).

    The web client performs ``next`` as it is given: a window action needs its
    ``views`` (which Odoo adds to a button's own action, not to one nested here)."""
    if next_action and next_action.get("type") == "ir.actions.act_window" and not next_action.get("views"):
        modes = (next_action.get("view_mode") or "list,form").split(",")
        next_action = dict(next_action, views=[(next_action.get("view_id") or False, mode) for mode in modes])
    return {
        "type": "ir.actions.client", "tag": "display_notification",
        "params": {"title": title, "message": message, "type": kind, "sticky": sticky,
                   "next": next_action or {"type": "ir.actions.client", "tag": "soft_reload"}},
    }
