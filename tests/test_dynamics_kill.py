"""``flitstack migrate`` killed mid-run (SIGKILL: no handler, no cleanup, the state
store's last transaction cut wherever it was) and started again finishes with every
Clio record once on its table and reconciliation closed.  The command runs as a
separate process against the emulated Clio and the emulated Dataverse of this one,
trusting the emulated identity platform through its CA bundle."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_dynamics_whole_account import FALLBACK, TABLES, account, environment, expected, landed, rows_by_key

REPO = Path(__file__).resolve().parents[1]
#: rows in Dataverse after which the first process is killed: some batches written, most not
KILL_AFTER_ROWS = 400
#: how long the test waits for those rows before it gives up (a hung process; not a timed assertion)
PATIENCE = 300.0


def command(clio, dv, tmp_path):
    token_file = tmp_path / "clio-token.json"
    token_file.write_text(json.dumps(clio.issue_token(ttl=7200)))
    args = [sys.executable, "-m", "flitstack_connectors.cli", "migrate", "--source", "clio",
            "--clio-token-file", str(token_file), "--base-url", clio.base_url,
            "--dest", "dynamics", "--dynamics-url", dv.environment_url, "--tenant", dv.tenant,
            "--dynamics-client-id", dv.client_id, "--authority", dv.authority,
            "--state", str(tmp_path / "state.sqlite"), "--fallback-owner", FALLBACK,
            "--batch-size", "50", "--confirm", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLITSTACK_")}
    # the client secret from the environment only; the emulated identity platform's CA through the
    # standard CA-bundle variables (verification stays on)
    env.update(FLITSTACK_DYNAMICS_CLIENT_SECRET=dv.client_secret, SSL_CERT_FILE=dv.ca_bundle_path,
               REQUESTS_CA_BUNDLE=dv.ca_bundle_path, PYTHONPATH=str(REPO))
    return args, env


def test_migrate_killed_mid_run_and_started_again_lands_every_record_once(clio_factory, tmp_path):
    clio = account(clio_factory, 300, 200)
    with environment(clio, rate_limit=6000, rate_window=300.0) as dv:
        args, env = command(clio, dv, tmp_path)
        first = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + PATIENCE
            while sum(dv.row_counts().get(t, 0) for t in TABLES) < KILL_AFTER_ROWS:
                assert first.poll() is None, first.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the migration wrote too few rows to be killed mid-run"
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
        finally:
            first.kill()
            first.communicate()
        assert first.returncode == -signal.SIGKILL
        written = sum(dv.row_counts().get(t, 0) for t in TABLES)

        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        # the killed run resumed (its status was still running: no handler ran), and it closes
        assert report["resumed"] and report["reconciled"]
        assert all(m["closes"] for m in report["maps"])
        want = expected(clio)
        for table, maps in TABLES.items():
            assert set(rows_by_key(dv, table)) == landed(want, table, maps), table
        counts = {m["map"]: m for m in report["maps"]}
        for name in (m for maps in TABLES.values() for m in maps):
            assert counts[name]["read"] == len(want[name]), name
        # the run (one run over both processes) created each row once: those written before the kill
        # count once, whether their lines were done or still pending when it came
        total = sum(len(rows_by_key(dv, t)) for t in TABLES)
        assert KILL_AFTER_ROWS <= written < total
        assert (report["totals"]["created"], report["totals"]["failed"]) == (total, len(want["large"]))
        # closed matters closed once over both processes: one close activity per closed row, no close
        # sent to a row closed already
        for table, activity, lookup in (("opportunity", "opportunityclose", "_opportunityid_value"),
                                        ("incident", "incidentresolution", "_incidentid_value")):
            rows = rows_by_key(dv, table)
            closed = {k for k, r in rows.items() if clio.record("matters", int(k))["status"] == "Closed"}
            assert {k for k, r in rows.items() if r["statecode"] == 1} == closed
            key = dv.tables[table].primary_id
            assert sorted(r[lookup] for r in dv.rows(activity)) == sorted(rows[k][key] for k in closed)
        assert {status for _action, status, _in_batch in dv.action_log} == {204}
