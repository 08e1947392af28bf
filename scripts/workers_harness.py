"""A migration through real queue_job workers, with the faults production meets.

Run it with Odoo's Python (the one that imports Odoo 18 and this library)::

    /opt/odoo18-venv/bin/python scripts/workers_harness.py [--contacts 1500 --matters 1000]
        [--scenarios kill,restart,faults] [--odoo-bin /opt/odoo18/odoo-bin]

Steps:

1. Install ``flitstack_migration`` on a new database ``<prefix>_<pid>_<random>``
   (``--db-prefix``, default ``fs_workers``; a database that exists already is
   refused, never installed on nor dropped), start one
   emulated Clio account per scenario, and set up one connection per account as
   an administrator would (default map provisioned and confirmed, fallback owner).
2. Start ``odoo-bin --workers=3`` with ``server_wide_modules = base,web,queue_job``
   and queue_job's job runner, with the channels the README gives
   (``root:3,root.flitstack:3,root.flitstack.read:1,root.flitstack.load:2``: the
   source's read on a slot of its own, two batches loading beside it), on ports of
   its own.
3. For each scenario, start a full run over JSON-RPC (the Start button) and:
   ``kill``    SIGKILL the worker that performs a batch load, mid-batch;
   ``restart`` SIGKILL the whole server while the source is read and batches load,
               then start it again;
   ``faults``  answer 20% of the account's API requests with 429, 500, 503 or a
               dropped connection.
4. Check each run: done and reconciled, every contact and matter in Odoo once
   (by external id and by a uniqueness query on the source reference), every
   source page read once by the whole run, blueprints included (the emulator's
   log, by path whatever the field list: pages served = the fewest pages the
   account needs), the blueprints built with each list only they need read once
   and each matter rate looked up once, no planted value (names, emails) in the
   queue_job rows of the finished run, and its staged records purged.

Exit status 0 when every check holds.  The server, the emulators and the
database are stopped and dropped in every case (``--keep`` keeps the database).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg2
import psycopg2.sql

from flitstack_connectors.blueprints.clio import FIELDS as CLIO_BLUEPRINT_FIELDS
from flitstack_connectors.emulators.clio import ClioEmulator

ROOT = Path(__file__).resolve().parent.parent
PAGE = 200


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RATE_FOR = "rate_for[matter_id]"


def lists(log):
    """The list pages of Clio's API answered 200 in ``log`` (the blueprints' per-matter
    rate look-ups through activity descriptions left out), by path."""
    return [r.path for r in log if r.status == 200 and r.path.startswith("/api/v4/") and RATE_FOR not in r.query]


def channels(workers, loads):
    """queue_job's channels: a slot for the source's read, ``loads`` for batches
    (a subchannel's jobs count against its parent too: root.flitstack = read + loads)."""
    return (f"root:{max(workers, loads + 1)},root.flitstack:{loads + 1},root.flitstack.read:1,"
            f"root.flitstack.load:{loads}")


def drop_database(db, attempts=30):
    """Drop ``db`` even while sessions of the stopped server linger (a worker's
    connection outlives its process for a moment; ``dropdb`` then refuses and the
    database stayed behind): PostgreSQL 13's ``WITH (FORCE)`` ends them first.
    True once the database is gone."""
    last = None
    for _ in range(attempts):
        try:
            with contextlib.closing(psycopg2.connect(dbname="postgres")) as pg:
                pg.autocommit = True
                with pg.cursor() as cr:
                    cr.execute(psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        psycopg2.sql.Identifier(db)))
                    cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
                    if not cr.fetchone():
                        return True
        except psycopg2.Error as exc:
            last = exc
        time.sleep(1)
    log(f"FAIL could not drop database {db}: {str(last).strip()}")
    return False


class FaultyClio(ClioEmulator):
    """A Clio account that answers a share of its API requests with 429, 500, 503
    or a dropped connection, at random (seeded)."""

    def __init__(self, *args, fault_rate=0.0, seed=7, **kw):
        super().__init__(*args, **kw)
        self.fault_rate = fault_rate
        self._rng = random.Random(seed)
        self.faults = 0

    def _take_injected(self, request):
        injected = super()._take_injected(request)
        if injected is None and self.fault_rate and self.failures_apply(request) and "/api/v4/" in request.path:
            with self._lock:
                if self._rng.random() < self.fault_rate:
                    self.faults += 1
                    return self._rng.choice([("429", 429, 1.0), ("status", 500, 0.0), ("status", 503, 0.0),
                                             ("drop", 0, 0.0)])
        return injected


class Odoo:
    """One odoo-bin with workers and the job runner, on a database of its own."""

    def __init__(self, odoo_bin, python, db, workdir, workers=3, channel_capacity=2, http_port=None,
                 extra_addons=None):
        self.odoo_bin, self.python, self.db, self.workdir = odoo_bin, python, db, Path(workdir)
        self.port, self.gevent_port = http_port or free_port(), free_port()
        self.workers, self.capacity = workers, channel_capacity
        self.proc = None
        odoo_dir = Path(odoo_bin).parent
        extra = [p for p in (extra_addons or str(ROOT / ".cache" / "addons")).split(",") if p]
        self.addons = ",".join([str(odoo_dir / "odoo" / "addons"), str(odoo_dir / "addons"), *extra, str(ROOT)])
        self.conf = self.workdir / "odoo.conf"
        self.conf.write_text(
            "[options]\n"
            f"addons_path = {self.addons}\n"
            f"db_name = {db}\n"
            f"dbfilter = ^{db}$\n"
            "list_db = False\n"
            f"http_port = {self.port}\n"
            f"gevent_port = {self.gevent_port}\n"
            f"workers = {workers}\n"
            "max_cron_threads = 0\n"
            "server_wide_modules = base,web,queue_job\n"
            "limit_time_real = 600\n"
            "limit_time_cpu = 600\n"
            "without_demo = all\n"
            f"logfile = {self.workdir / 'odoo.log'}\n"
            "log_level = info\n"
            "[queue_job]\n"
            f"channels = {channels(workers, channel_capacity)}\n")
        self.env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run_once(self, *args, command=(), stdin=None, timeout=900):
        cmd = [self.python, self.odoo_bin, *command, "-c", str(self.conf), "--workers=0", "--logfile=",
               "--log-level=warn", *args]
        return subprocess.run(cmd, input=stdin, env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT, check=False)

    def install(self):
        res = self.run_once("-i", "flitstack_migration", "--stop-after-init")
        if res.returncode:
            raise RuntimeError(f"installing the addon failed:\n{res.stderr[-3000:]}")

    def shell(self, code):
        res = self.run_once("--no-http", command=("shell",), stdin=code)
        if res.returncode:
            raise RuntimeError(f"odoo shell failed:\n{res.stderr[-3000:]}")
        return res.stdout

    def longpolling_problem(self):
        """Why Odoo's longpolling process (``odoo-bin gevent``, which the prefork server
        starts beside its workers) cannot start in this Python, or None.  When it cannot,
        the server starts it again every second or so, and each start imports Odoo: one
        core's worth of CPU taken from the run.  Seen with Odoo 18's gevent 22.10.2, a
        virtualenv's setuptools 65 and zope.interface 7 or later: that pkg_resources does
        not find distributions whose metadata folder has the new normalised name
        (``zope_interface-8.7.dist-info``)."""
        code = (f"import sys; sys.argv = [{str(self.odoo_bin)!r}, 'gevent']; "
                f"sys.path.insert(0, {str(Path(self.odoo_bin).parent)!r}); import odoo")
        res = subprocess.run([self.python, "-c", code], env=self.env, capture_output=True, text=True,
                             cwd=ROOT, check=False, timeout=300)
        if res.returncode == 0:
            return None
        last = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        if "zope" in last:
            fix = ("this gevent's setuptools does not find zope.interface 7+ or zope.event 5.1+: "
                   "pip install 'zope.interface<7' 'zope.event<5.1' into that Python")
        else:
            fix = "install Odoo's requirements.txt (gevent among them) into that Python"
        return (f"Odoo's longpolling process cannot start in {self.python} ({last[:200]}): the server "
                f"starts it again every second, which takes CPU from the run; {fix}")

    def start(self):
        problem = self.longpolling_problem()
        if problem:
            log(f"WARNING {problem}")
        self.proc = subprocess.Popen([self.python, self.odoo_bin, "-c", str(self.conf)], env=self.env, cwd=ROOT,
                                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/web/login", timeout=5).read()
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"odoo-bin exited with {self.proc.returncode}; see {self.workdir}/odoo.log")
                time.sleep(1)
        raise RuntimeError("odoo-bin did not answer within 3 minutes")

    def kill(self):
        """SIGKILL the server and every process it started (a crash, not a stop)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        if self.proc:
            # workers (and their job) may outlive the master: none is left holding the database
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.proc.poll() is None:
                self.proc.wait(30)
        self.proc = None

    def worker_pids(self):
        """PIDs of the HTTP workers (children of the master), for memory figures."""
        if not self.proc:
            return []
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return [int(line.split()[0]) for line in out.splitlines() if line.strip()]

    # -- JSON-RPC, as the web client does ---------------------------------------
    def rpc(self, service, method, *args):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1,
                           "params": {"service": service, "method": method, "args": args}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/jsonrpc", body,
                                     {"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(req, timeout=120).read())
        if answer.get("error"):
            raise RuntimeError(answer["error"].get("data", {}).get("message") or answer["error"])
        return answer["result"]

    def call(self, model, method, *args, login="admin", password="admin", **kw):
        uid = self.rpc("common", "login", self.db, login, password)
        return self.rpc("object", "execute_kw", self.db, uid, password, model, method, list(args), kw)


SETUP = """
import json
ICP = env["ir.config_parameter"]
ICP.set_param("flitstack_migration.clio_rate_limit", "{rate}/{window}")
ICP.set_param("flitstack_migration.run_data_retention_days", "0")
fallback = env["res.users"].search([("login", "=", "fallback@firm.example")]) or \
    env["res.users"].with_context(no_reset_password=True).create({{
        "name": "Fallback Owner", "login": "fallback@firm.example", "email": "fallback@firm.example"}})
ids = {{}}
for name, account in {accounts!r}.items():
    conn = env["flitstack.connection"].create({{
        "name": f"Workers {{name}}", "kind": "clio", "state": "connected", "fallback_user_id": fallback.id,
        **account}})
    cmap = conn._ensure_map()
    cmap.action_provision_fields()
    cmap.action_confirm()
    ids[name] = conn.id
env.cr.commit()
print("IDS=" + json.dumps(ids))
"""


class Harness:
    def __init__(self, args):
        self.args = args
        # a name no other run on this machine can hold: the prefix, this process and a random part
        self.db = args.db or f"{args.db_prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        self.workdir = Path(tempfile.mkdtemp(prefix="fs_workers_"))
        self.odoo = Odoo(args.odoo_bin, args.python or sys.executable, self.db, self.workdir,
                         workers=args.workers, channel_capacity=args.capacity, http_port=args.http_port,
                         extra_addons=args.addons)
        self.emulators = {}
        self.owns_db = False
        self.failures = []
        self.checks_before_start, self.run_log_start = {}, {}
        #: per scenario, the jobs it killed (their retry is its doing, not a collision's)
        self.killed_jobs = {}

    # -- set-up ---------------------------------------------------------------------
    def setup(self, scenarios, limits=None):
        """``limits``: ``{scenario: (requests, seconds)}`` of accounts whose emulated Clio
        allows another rate than ``--rate``/``--window``."""
        if not self.args.reuse_db:
            with contextlib.closing(psycopg2.connect(dbname="postgres")) as pg, pg.cursor() as cr:
                cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.db])
                if cr.fetchone():
                    self.owns_db = False
                    raise RuntimeError(f"database {self.db} exists already: give another --db (it is neither "
                                       "used nor dropped)")
            self.owns_db = True
            log(f"installing flitstack_migration on {self.db}")
            self.odoo.install()
        accounts = {}
        for name in scenarios:
            rate, window = (limits or {}).get(name, (self.args.rate, self.args.window))
            clio = FaultyClio(contacts=self.args.contacts, matters=self.args.matters,
                              rate_limit=rate, rate_window=window)
            clio.start()
            self.emulators[name] = clio
            token = clio.issue_token()
            accounts[name] = {"base_url": clio.base_url, "client_id": clio.client_id,
                              "client_secret": clio.client_secret, "access_token": token["access_token"],
                              "refresh_token": token["refresh_token"]}
        out = self.odoo.shell(SETUP.format(rate=self.args.rate, window=self.args.window, accounts=accounts))
        self.connections = json.loads(next(l for l in out.splitlines() if l.startswith("IDS="))[4:])
        log(f"starting odoo-bin --workers={self.args.workers} with the job runner on port {self.odoo.port}")
        self.odoo.start()

    # -- a run ----------------------------------------------------------------------
    def start_run(self, name):
        """Start a full run as the Start button does.  Start samples the source for
        pre-flight; those requests are measured by the Pre-flight button just before, so
        that the checks count the run's own reads."""
        clio, conn = self.emulators[name], self.connections[name]
        before = len(clio.request_log)
        self.odoo.call("flitstack.connection", "action_preflight", [conn])
        self.checks_before_start[name] = Counter(lists(clio.request_log[before:]))
        self.run_log_start[name] = len(clio.request_log)
        run_id = self.odoo.call("flitstack.run", "create", {"connection_id": conn, "mode": "full"})
        self.odoo.call("flitstack.run", "action_start", [run_id])
        return run_id

    def run_requests(self, name):
        """``{list path: pages answered 200}`` of the whole run, whatever the field list
        (its reads, and the blueprints at its end), Start's pre-flight sample left out;
        and the number of the blueprints' per-matter rate look-ups."""
        clio = self.emulators[name]
        log = clio.request_log[self.run_log_start[name]:]
        served = Counter(lists(log))
        served.subtract(self.checks_before_start[name])
        lookups = Counter(repr(sorted(r.query.items())) for r in log if r.status == 200 and RATE_FOR in r.query)
        return served, lookups

    def blueprint_reads(self, name):
        """``{resource: pages answered 200}`` asked with the blueprints' own field lists
        (Start's staff check reads users with the source's list, for another purpose)."""
        log = self.emulators[name].request_log[self.run_log_start[name]:]
        return Counter(r.path[len("/api/v4/"):-len(".json")] for r in log
                       if r.status == 200 and r.path.startswith("/api/v4/") and RATE_FOR not in r.query
                       and r.query.get("fields") == [CLIO_BLUEPRINT_FIELDS.get(r.path[len("/api/v4/"):-len(".json")])])

    def run_state(self, run_id):
        return self.odoo.call("flitstack.run", "read", [run_id],
                              ["state", "error", "reconciled", "blueprints_pending"])[0]

    def wait_done(self, run_id, timeout, blueprints=True):
        """The run's state once it ended (and, with ``blueprints``, once the blueprints
        read after a full run are in, with the purge that follows them)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                state = self.run_state(run_id)
            except Exception:  # a worker being respawned
                time.sleep(1)
                continue
            if state["state"] == "failed" or (state["state"] == "done"
                                               and not (blueprints and state["blueprints_pending"])):
                return state
            time.sleep(1)
        raise RuntimeError(f"run {run_id} did not end within {timeout} s")

    def drop_blueprints(self, run_id, timeout=300):
        """Cancel the blueprint reads that follow a full run (one matter-rate look-up per matter
        with custom rates, at the source's pace, on the read channel: hours at 100,000 under
        Clio's limit): the next run's reads would wait behind them."""
        domain = [("func_string", "=like", f"flitstack.run({run_id},).%"), ("method_name", "=", "_job_blueprints")]
        # the next blueprint job is taken as soon as it is queued: mark the run's data gone, which
        # ends the chain at its next job (its staged rows stay: the database is dropped at the end)
        self.odoo.call("flitstack.run", "write", [run_id], {"purged": True})
        deadline = time.time() + timeout
        while time.time() < deadline:
            waiting = self.odoo.call("queue.job", "search",
                                     [*domain, ("state", "in", ("pending", "enqueued", "wait_dependencies"))])
            if waiting:
                self.odoo.call("queue.job", "button_cancelled", waiting)
            if not self.odoo.call("queue.job", "search_count", [*domain, ("state", "=", "started")]) and not waiting:
                return
            time.sleep(2)
        log(f"run {run_id}: a blueprint read still runs after {timeout} s; the next run's reads may wait for it")

    def end_scenario(self, run_id):
        """The run's state once it ended: with ``--no-blueprints``, as soon as the run is done
        (its blueprint reads then cancelled), else once its blueprints are in."""
        state = self.wait_done(run_id, self.args.timeout, blueprints=not self.args.no_blueprints)
        if self.args.no_blueprints:
            self.drop_blueprints(run_id)
        return state

    def jobs(self, run_id, domain=()):
        return self.odoo.call("queue.job", "search_read",
                              [("func_string", "=like", f"flitstack.run({run_id},).%"), *domain],
                              fields=["uuid", "method_name", "state", "worker_pid", "retry"])

    def running_on(self, pid, run_id):
        """``(uuid, method)`` of the run's job that worker ``pid`` has started and not
        ended, read from the database (not through the server, whose worker may be the
        frozen one), or None."""
        with contextlib.closing(psycopg2.connect(dbname=self.db)) as pg, pg.cursor() as cr:
            cr.execute("SELECT uuid, method_name FROM queue_job WHERE worker_pid = %s AND state = 'started' "
                       "AND func_string LIKE %s ORDER BY date_started DESC LIMIT 1", [pid, f"flitstack.run({run_id},).%"])
            return cr.fetchone()

    # -- scenarios ------------------------------------------------------------------------
    def scenario_kill(self):
        """SIGKILL the worker that loads a batch, mid-batch.  The worker is frozen
        (SIGSTOP) before it is killed, and killed only if what it runs then is still a
        batch load: a worker seen loading a batch may have finished it and taken another
        job by the time the signal would reach it, and then the scenario would kill that
        other job (an extraction, the next batch) and check the wrong one."""
        run_id = self.start_run("kill")
        deadline = time.time() + 600
        job = None
        while time.time() < deadline and job is None:
            started = self.jobs(run_id, [("method_name", "=", "_job_load_batch"), ("state", "=", "started")])
            if started and started[0]["worker_pid"]:
                pid = started[0]["worker_pid"]
                time.sleep(0.3)  # into the batch
                os.kill(pid, signal.SIGSTOP)
                try:
                    running = self.running_on(pid, run_id)
                    if running and running[1] == "_job_load_batch":
                        log(f"kill: SIGKILL worker {pid} while it loads a batch (job {running[0]})")
                        os.kill(pid, signal.SIGKILL)
                        job = {"uuid": running[0], "worker_pid": pid}
                        break
                finally:
                    if job is None:
                        os.kill(pid, signal.SIGCONT)
                log(f"kill: worker {pid} had moved on from that batch ({running and running[1]}): look again")
            if self.run_state(run_id)["state"] != "running":
                raise RuntimeError("kill: the run ended before a batch load was seen running")
            time.sleep(0.1)
        if job is None:
            raise RuntimeError("no batch load was seen running")
        state = self.end_scenario(run_id)
        again = self.odoo.call("queue.job", "search_read", [("uuid", "=", job["uuid"])],
                               fields=["state", "retry"])[0]
        # queue_job counts a try as it starts one: a job done at its first try has retry 1
        self.killed_jobs["kill"] = {job["uuid"]}
        self.check(again["state"] == "done" and again["retry"] >= 2,
                   f"kill: the killed job was requeued and done (state {again['state']}, tries {again['retry']})")
        return run_id, state

    def scenario_restart(self):
        run_id = self.start_run("restart")
        deadline = time.time() + 600
        while time.time() < deadline:
            batches = self.odoo.call("flitstack.run.batch", "search_count",
                                     [("run_id", "=", run_id), ("state", "=", "loaded")])
            reading = self.odoo.call("flitstack.run.extraction", "search_count",
                                     [("run_id", "=", run_id), ("state", "!=", "done")])
            if batches and reading:
                break
            if self.run_state(run_id)["state"] != "running":
                raise RuntimeError("restart: the run ended before a batch loaded while the source was still "
                                   "read: give the account more records")
            time.sleep(0.2)
        else:
            raise RuntimeError("restart: no batch loaded while the source was read within 600 s")
        log("restart: SIGKILL the whole server mid-run, then start it again")
        self.odoo.kill()
        # what ran then died with the server, and queue_job runs it again
        with contextlib.closing(psycopg2.connect(dbname=self.db)) as pg, pg.cursor() as cr:
            cr.execute("SELECT uuid FROM queue_job WHERE func_string LIKE %s AND state IN ('started', 'enqueued')",
                       [f"flitstack.run({run_id},).%"])
            self.killed_jobs["restart"] = {uuid for (uuid,) in cr.fetchall()}
        self.odoo.start()
        return run_id, self.end_scenario(run_id)

    def scenario_faults(self):
        self.emulators["faults"].fault_rate = 0.2
        run_id = self.start_run("faults")
        try:
            state = self.end_scenario(run_id)
        finally:
            self.emulators["faults"].fault_rate = 0.0
        log(f"faults: {self.emulators['faults'].faults} injected faults")
        return run_id, state

    # -- checks -------------------------------------------------------------------------
    def check(self, ok, what):
        log(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    def verify(self, name, run_id, state, blueprints=True):
        """Check a run that ended; ``blueprints=False`` leaves out the blueprints read
        after it (still going on) and the purge that follows them."""
        clio = self.emulators[name]
        self.check(state["state"] == "done" and state["reconciled"],
                   f"{name}: run done and reconciled ({state['state']}: {state['error'] or ''})")
        conn_id = self.connections[name]
        module = f"flitstack_{conn_id}"
        # closed on leaving (psycopg2's own "with" ends the transaction, not the connection,
        # and a connection left open keeps the database from being dropped)
        with contextlib.closing(psycopg2.connect(dbname=self.db)) as pg, pg.cursor() as cr:
            for model, table, prefix, expected in (("res.partner", "res_partner", "contacts/", self.args.contacts),
                                                   ("crm.lead", "crm_lead", "matters/", self.args.matters)):
                cr.execute(f"""
                    SELECT count(*), count(DISTINCT t.x_flitstack_source_ref), count(DISTINCT d.name)
                    FROM {table} t JOIN ir_model_data d ON d.model = %s AND d.res_id = t.id AND d.module = %s
                    WHERE t.x_flitstack_source_ref LIKE %s""", [model, module, prefix + "%"])
                rows, refs, xmlids = cr.fetchone()
                self.check((rows, refs, xmlids) == (expected, expected, expected),
                           f"{name}: {model}: {rows} records, {refs} distinct source references, {xmlids} external "
                           f"ids for {expected} source records (0 duplicates, 0 lost)")
            cr.execute("SELECT source_object, pages_read, records_read FROM flitstack_run_extraction "
                       "WHERE run_id = %s", [run_id])
            rows = cr.fetchall()
            served_by_path, lookups = self.run_requests(name)
            # the blueprints at the end of the run: built, from what the run read of matters and
            # practice areas, and what only they read read once (page counts of a small account)
            cr.execute("SELECT blueprints_zip IS NOT NULL FROM flitstack_run WHERE id = %s", [run_id])
            read_by_run = {obj for obj, _p, _r in rows}
            by_blueprints = self.blueprint_reads(name)
            twice = {r: by_blueprints[r] for r in CLIO_BLUEPRINT_FIELDS if r not in read_by_run and by_blueprints[r] != 1}
            built = cr.fetchone()[0]
            if blueprints:
                self.check(built and not twice and set(lookups.values()) <= {1},
                           f"{name}: blueprints built, {len(set(CLIO_BLUEPRINT_FIELDS) - read_by_run)} lists only they "
                           f"need read once each {twice or ''}, {len(lookups)} matter rates looked up once each")
            for obj, pages, records in rows:
                try:
                    expected = len(clio.ids(obj))
                except Exception:
                    continue
                served = served_by_path[f"/api/v4/{obj}.json"]
                minimum = max(1, math.ceil(expected / PAGE))
                # a page whose job died with the server is asked for again: staged once all the same
                again = 1 if name == "restart" else 0
                self.check(records == expected and pages == minimum and minimum <= served <= minimum + again,
                           f"{name}: {obj}: {records} records of {expected} read once, {pages} pages staged, "
                           f"{served} served, {minimum} needed")
            # batches of one map load at once without colliding: no load job tried twice, apart
            # from those the scenario killed (queue_job counts a try as it starts one)
            cr.execute("SELECT uuid, method_name, retry FROM queue_job WHERE func_string LIKE %s",
                       [f"flitstack.run({run_id},).%"])
            jobs = cr.fetchall()
            killed = self.killed_jobs.get(name, set())
            loads = [(uuid, retry) for uuid, method, retry in jobs if method == "_job_load_batch"]
            retried = sorted(uuid for uuid, retry in loads if (retry or 0) > 1 and uuid not in killed)
            others = Counter(method for uuid, method, retry in jobs
                             if method != "_job_load_batch" and (retry or 0) > 1 and uuid not in killed)
            self.check(loads and not retried,
                       f"{name}: {len(loads)} batch loads, {len(retried)} tried again "
                       f"(besides {len(killed & {u for u, _r in loads})} killed by the scenario); other jobs tried "
                       f"again: {dict(others) or 'none'}")
            # no value of the account in the queue_job rows of the finished run
            cr.execute("SELECT coalesce(args::text, '') || coalesce(kwargs::text, '') || coalesce(result, '') "
                       "|| coalesce(exc_info, '') || coalesce(name, '') FROM queue_job WHERE func_string LIKE %s",
                       [f"flitstack.run({run_id},).%"])
            texts = [row[0] for row in cr.fetchall()]
            planted = []
            for cid in clio.ids("contacts")[:200]:
                c = clio.record("contacts", cid)
                planted += [v for v in (c.get("name"), c.get("primary_email_address")) if v and len(v) >= 5]
            leaked = [v for v in planted if any(v in t for t in texts)]
            self.check(texts and not leaked,
                       f"{name}: {len(texts)} jobs of the run hold none of {len(planted)} planted values")
            if blueprints:
                cr.execute("SELECT count(*) FROM flitstack_run_record WHERE run_id = %s", [run_id])
                self.check(cr.fetchone()[0] == 0, f"{name}: staged records purged after the run (retention 0 days)")

    def cleanup(self):
        """Stop the server and the emulators and drop the database: each step even
        when one before it fails."""
        for stop in (self.odoo.stop, *(clio.stop for clio in self.emulators.values())):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - the database is dropped all the same
                log(f"cleanup: {type(exc).__name__}: {exc}")
        if not self.args.keep and self.owns_db:
            if not drop_database(self.db):
                self.failures.append(f"the database {self.db} could not be dropped: drop it by hand")
            shutil.rmtree(self.workdir, ignore_errors=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=1500)
    p.add_argument("--matters", type=int, default=1000)
    p.add_argument("--scenarios", default="kill,restart,faults")
    p.add_argument("--rate", type=int, default=50, help="requests the emulated Clio allows per window")
    p.add_argument("--window", type=float, default=4.0, help="seconds of the emulated Clio's rate window")
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--capacity", type=int, default=2,
                   help="capacity of the root.flitstack.load channel (batches loading at once)")
    p.add_argument("--http-port", type=int, help="the server's port (default: a free one)")
    p.add_argument("--addons", default=os.environ.get("FLITSTACK_EXTRA_ADDONS"),
                   help="comma-separated folders holding queue_job (default: the repository's .cache/addons)")
    p.add_argument("--timeout", type=int, default=1200, help="seconds a run may take")
    p.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin"))
    p.add_argument("--python", default=os.environ.get("ODOO_PYTHON"))
    p.add_argument("--db", help="the database to create (default: <db-prefix>_<pid>_<random>)")
    p.add_argument("--db-prefix", default="fs_workers")
    p.add_argument("--no-blueprints", action="store_true",
                   help="end each scenario when its run is done, its blueprint reads cancelled, and leave out "
                        "their checks (at full size under Clio's limit those reads take hours)")
    p.add_argument("--keep", action="store_true", help="keep the database and the server's log")
    p.add_argument("--reuse-db", action="store_true", help="use --db as it is (the addon installed)")
    return p.parse_args(argv)


def _stop_on_signal(signum, _frame):
    # a CI timeout or Ctrl-C ends the harness through its finally: the server stopped, the database dropped
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    scenarios = [s for s in args.scenarios.split(",") if s]
    harness = Harness(args)
    began = time.time()
    try:
        harness.setup(scenarios)
        for name in scenarios:
            log(f"scenario {name}: {args.contacts} contacts, {args.matters} matters")
            run_id, state = getattr(harness, f"scenario_{name}")()
            harness.verify(name, run_id, state, blueprints=not args.no_blueprints)
    except Exception as exc:
        harness.failures.append(f"{type(exc).__name__}: {exc}")
        log(f"FAIL {type(exc).__name__}: {exc}")
    finally:
        harness.cleanup()
    log(f"{len(harness.failures)} failures in {time.time() - began:.0f} s")
    return 1 if harness.failures else 0


if __name__ == "__main__":
    sys.exit(main())
