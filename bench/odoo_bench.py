"""What the benchmarks that load into Odoo in-process share: a throw-away
database, and a sampler of the process's peak resident memory.

    with throwaway_odoo(args.odoo_bin, args.addons, args.db, ["flitstack_migration"], args.keep) as (odoo, registry):
        ...

Puts Odoo's source folder and this repository first on ``sys.path``, creates the
database, installs the modules (no demo data, warnings only in the log) and, on
leaving, drops the database unless ``keep``.  ``addons`` is the folder holding
queue_job (default: ``.cache/addons`` of this repository, as scripts/test.sh
unpacks it).
"""
import contextlib
import os
import sys
import threading

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def throwaway_odoo(odoo_bin, addons, db, modules, keep=False):
    odoo_dir = os.path.dirname(os.path.abspath(odoo_bin))
    sys.path[:0] = [odoo_dir, REPO]
    extra = addons or os.path.join(REPO, ".cache", "addons")

    import odoo
    from odoo.tools import config

    config.parse_config(["-d", db, "--without-demo=all", "--log-level=warn",
                         f"--addons-path={odoo_dir}/odoo/addons,{odoo_dir}/addons,{extra},{REPO}"])
    odoo.service.db._create_empty_database(db)
    config["init"] = {module: 1 for module in modules}
    registry = odoo.modules.registry.Registry.new(db, update_module=True)
    config["init"] = {}
    try:
        yield odoo, registry
    finally:
        if not keep:
            odoo.modules.registry.Registry.delete(db)
            odoo.sql_db.close_db(db)
            odoo.service.db.exp_drop(db)


class RssSampler:
    """Samples the process's resident memory every 20 ms: ``peak`` since the last ``reset()``."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def reset(self):
        self.peak = self.proc.memory_info().rss
        return self.peak

    def stop(self):
        self._stop.set()
