"""Upgrade to 18.0.1.1.0: the job functions and channels as ``data/queue_job_data.xml`` says.

That file is ``noupdate`` (an administrator may tune a retry pattern or a channel in
Job Queue, and an upgrade must not undo it), so ``-u flitstack_migration`` creates
the channels it did not have but leaves the job functions of an older install as they
were: every job on ``root.flitstack``, where this version reads the source on
``root.flitstack.read`` and loads batches on ``root.flitstack.load``.  Loading the
file once as at install writes them as it says, from the file itself, whose records
stay ``noupdate`` for the upgrades after this one.
"""
from odoo import SUPERUSER_ID, api
from odoo.tools import convert_file

MODULE = "flitstack_migration"
DATA_FILE = "data/queue_job_data.xml"


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    convert_file(env, MODULE, DATA_FILE, {}, mode="init", noupdate=True, kind="data")
