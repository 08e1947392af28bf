#!/usr/bin/env bash
# Set up and run every test of FlitStack Migration.
#
#   bash scripts/test.sh            # connector tests, then the addon's Odoo tests if an Odoo 18 is found
#
# 1. Creates .venv (once) and installs flitstack_connectors with its test extras.
# 2. Runs the connector test suite (pytest, local emulated vendor APIs).
# 3. Looks for an Odoo 18 install (see "find_odoo" below and the README). When there is
#    one, it makes sure PostgreSQL answers, unpacks OCA queue_job from the package index
#    into .cache/addons, installs the connector package into Odoo's Python, creates a
#    throw-away database, installs flitstack_migration with its tests and drops the
#    database. When there is none, it says so in one line and the run stays green.
#    The databases run side by side (ODOO_TESTS_SERIAL=1: one after the other).
# 4. With that Odoo, beside the second database's tests, scripts/workers_harness.py: a
#    migration through odoo-bin with workers and queue_job's job runner on a throw-away
#    database, with a worker killed mid-batch,
#    the server killed and started again, and 20% of the source's answers failed, at a
#    size that fits CI (WORKERS_HARNESS_ARGS). Its result is one line; a failure fails
#    the run.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
QUEUE_JOB_VERSION="${QUEUE_JOB_VERSION:-18.0.3.1.2}"
PYTHON="${PYTHON:-python3}"
status=0

say() { printf '%s\n' "$*"; }

# -- 1. connector package ------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || { say "Could not create .venv with $PYTHON"; exit 1; }
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" || { say "pip install failed"; exit 1; }

ensure_postgres() {
  if pg_isready -q 2>/dev/null; then return 0; fi
  if command -v pg_lsclusters >/dev/null 2>&1; then
    local ver
    ver="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
    [ -n "$ver" ] && pg_ctlcluster "$ver" main start >/dev/null 2>&1
  fi
  pg_isready -q 2>/dev/null || service postgresql start >/dev/null 2>&1
  for _ in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q 2>/dev/null && return 0; sleep 1; done
  return 1
}

# -- 2. connector tests ----------------------------------------------------------------
# the state store's PostgreSQL test uses the local server where there is one (it says why it skips otherwise)
ensure_postgres || true
.venv/bin/python -m pytest -q -p no:cacheprovider tests
rc=$?
if [ "$rc" -ne 0 ]; then status=$rc; fi

# -- 3. Odoo tests -----------------------------------------------------------------------
# find_odoo prints "<odoo-bin path>|<python>" for the first Odoo 18 found:
#   $ODOO_BIN (path to odoo-bin) with $ODOO_PYTHON, or else the folders below, each holding
#   odoo-bin; the Python is $ODOO_PYTHON, <folder>/.venv/bin/python, <folder>-venv/bin/python
#   or python3, whichever imports that Odoo as version 18.
odoo_python_for() {
  local dir="$1" py
  for py in "${ODOO_PYTHON:-}" "$dir/.venv/bin/python" "$dir-venv/bin/python" "$dir/venv/bin/python" python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || [ -x "$py" ] || continue
    if "$py" -c "import sys; sys.path.insert(0, '$dir'); import odoo.release as r, psycopg2, werkzeug; sys.exit(r.version_info[0] != 18)" >/dev/null 2>&1; then
      printf '%s' "$py"; return 0
    fi
  done
  return 1
}

find_odoo() {
  local candidates=() bin dir py
  [ -n "${ODOO_BIN:-}" ] && candidates+=("$ODOO_BIN")
  for dir in /opt/odoo18 /opt/odoo /usr/lib/python3/dist-packages/odoo/.. "$HOME/odoo18" "$HOME/odoo" \
             "$repo/../odoo18" "$repo/../odoo"; do
    candidates+=("$dir/odoo-bin")
  done
  for bin in "${candidates[@]}"; do
    [ -f "$bin" ] || continue
    dir="$(cd "$(dirname "$bin")" && pwd)"
    if py="$(odoo_python_for "$dir")"; then
      printf '%s|%s' "$dir/odoo-bin" "$py"; return 0
    fi
  done
  return 1
}


ensure_db_role() {
  # Odoo refuses to run as the postgres superuser: use a role named after this user.
  local me; me="$(id -un)"
  if psql -d postgres -tAc "select 1" >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = "0" ] && id postgres >/dev/null 2>&1; then
    su postgres -c "createuser -s '$me'" >/dev/null 2>&1 || true
  fi
  psql -d postgres -tAc "select 1" >/dev/null 2>&1
}

ensure_queue_job() {
  local dest="$repo/.cache/addons" wheel_dir="$repo/.cache/wheels"
  if [ -f "$dest/queue_job/__manifest__.py" ] && grep -q "\"$QUEUE_JOB_VERSION\"" "$dest/queue_job/__manifest__.py"; then
    return 0
  fi
  mkdir -p "$dest" "$wheel_dir"
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps -d "$wheel_dir" \
    "odoo-addon-queue-job==$QUEUE_JOB_VERSION" || return 1
  rm -rf "$dest/queue_job"
  .venv/bin/python - "$wheel_dir" "$dest" "$QUEUE_JOB_VERSION" <<'PY'
import pathlib, sys, zipfile
wheel_dir, dest, version = sys.argv[1:]
wheel = next(pathlib.Path(wheel_dir).glob(f"odoo_addon_queue_job-{version}-*.whl"))
prefix = "odoo/addons/queue_job/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = pathlib.Path(dest, "queue_job", name[len(prefix):])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
}

# run_odoo_tests ODOO_BIN PYTHON LABEL MODULES: the addon's tests on a new database where
# MODULES are installed with it, dropped afterwards; prints "odoo (LABEL): N passed, N failed"
# and adds the counts to odoo_passed / odoo_failed.
odoo_passed=0
odoo_failed=0
run_odoo_tests() {
  local odoo_bin="$1" odoo_py="$2" label="$3" modules="$4" odoo_dir db log port addons
  odoo_dir="$(dirname "$odoo_bin")"
  db="flitstack_test_${label//[^a-z]/_}_$$"
  log="$repo/.cache/odoo-tests-$label.log"
  port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  addons="$odoo_dir/odoo/addons,$odoo_dir/addons,$repo/.cache/addons,$repo"
  dropdb --if-exists "$db" >/dev/null 2>&1
  say "Odoo tests ($label: $modules): $odoo_bin with $odoo_py, database $db"
  PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$odoo_py" "$odoo_bin" --addons-path="$addons" -d "$db" \
    -i "$modules" --test-tags /flitstack_migration --stop-after-init --without-demo=all \
    --http-interface=127.0.0.1 --http-port="$port" --log-level=test --no-database-list >"$log" 2>&1
  local odoo_rc=$?
  dropdb --if-exists "$db" >/dev/null 2>&1
  grep -E "^(FAIL|ERROR):|odoo.tests.result|odoo.tests.stats| (ERROR|CRITICAL) " "$log" | grep -v "^$" | tail -40
  local result failed errors total
  result="$(grep -E "odoo.tests.result: [0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests" "$log" | tail -1)"
  if [ -z "$result" ]; then
    say "Odoo tests ($label) did not report a result (exit $odoo_rc): see $log"
    tail -30 "$log"
    odoo_failed=$((odoo_failed + 1))
    return 1
  fi
  failed="$(sed -E 's/.*: ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\1/' <<<"$result")"
  errors="$(sed -E 's/.*: ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\2/' <<<"$result")"
  total="$(sed -E 's/.*: ([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\3/' <<<"$result")"
  # a tour skipped for want of a browser is a test that did not run: count it as failed
  local skipped_tours
  skipped_tours="$(grep -cE "skipped TestAdminTours" "$log")"
  if [ "$skipped_tours" -gt 0 ]; then
    say "Odoo tests ($label): $skipped_tours tours skipped (no Chromium or websocket-client): see $log"
    failed=$((failed + skipped_tours))
  fi
  say "odoo ($label): $((total - failed - errors)) passed, $((failed + errors)) failed"
  odoo_passed=$((odoo_passed + total - failed - errors))
  odoo_failed=$((odoo_failed + failed + errors))
  [ "$failed" = "0" ] && [ "$errors" = "0" ] && [ "$total" -gt 0 ] && [ "$odoo_rc" = "0" ]
}

# run_workers_harness ODOO_BIN PYTHON: scripts/workers_harness.py at the size of
# WORKERS_HARNESS_ARGS, on a database of its own (flitstack_test_workers_<pid>_<random>)
# and a free port; prints "workers harness: passed|FAILED ..." with its duration.
WORKERS_HARNESS_ARGS="${WORKERS_HARNESS_ARGS:---contacts 600 --matters 1000}"
run_workers_harness() {
  local odoo_bin="$1" odoo_py="$2" log="$repo/.cache/workers-harness.log" port began rc seconds
  port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  say "Workers harness ($WORKERS_HARNESS_ARGS): $odoo_bin with $odoo_py, log $log"
  began="$(date +%s)"
  # shellcheck disable=SC2086
  PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$odoo_py" "$repo/scripts/workers_harness.py" \
    --odoo-bin "$odoo_bin" --python "$odoo_py" --addons "$repo/.cache/addons" \
    --db-prefix flitstack_test_workers --http-port "$port" $WORKERS_HARNESS_ARGS >"$log" 2>&1
  rc=$?
  seconds=$(( $(date +%s) - began ))
  grep -E "FAIL|failures in" "$log" | tail -20
  if [ "$rc" = "0" ]; then
    say "workers harness: passed (worker killed mid-batch, server restarted, 20% faults: 0 duplicates, 0 lost, every page read once, reconciled) in ${seconds} s"
  else
    say "workers harness: FAILED (exit $rc) in ${seconds} s: see $log"
    rc=1
  fi
  return "$rc"
}

#: the two databases: CRM alone (the "app not installed" paths are real), and CRM with
#: Invoicing, Sales, Calendar and Project (the full landings are real)
ODOO_DATABASES="${ODOO_DATABASES:-crm:flitstack_migration full:flitstack_migration,sale_crm,account,calendar,project}"

if found="$(find_odoo)"; then
  odoo_bin="${found%%|*}"; odoo_py="${found#*|}"
  if ! ensure_postgres; then
    say "PostgreSQL could not be started: start it and run again."; status=1
  elif ! ensure_db_role; then
    say "PostgreSQL refuses connections for $(id -un): create that role (createuser -s $(id -un))."; status=1
  elif ! ensure_queue_job; then
    say "queue_job $QUEUE_JOB_VERSION could not be fetched from the package index."; status=1
  elif ! { "$odoo_py" -c "import httpx, pydantic, requests_oauthlib, rapidfuzz, charset_normalizer, msal, sqlalchemy" >/dev/null 2>&1 \
           || "$odoo_py" -m pip install -q --disable-pip-version-check -e "$repo"; }; then
    say "Installing flitstack_connectors into Odoo's Python failed."; status=1
  else
    # the tours (tests/test_tours.py) drive the admin's flow in headless Chromium through websocket-client
    if ! command -v chromium >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
      say "Installing Debian's chromium for the Odoo tours"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || say "chromium could not be installed: the tours will be reported as skipped, which fails the run."
    fi
    # the reconciliation report's PDF (tests/test_run_report.py) is rendered by wkhtmltopdf, as Odoo prints reports
    if ! command -v wkhtmltopdf >/dev/null 2>&1; then
      say "Installing Debian's wkhtmltopdf for the report PDF"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wkhtmltopdf; } >/dev/null 2>&1 \
        || say "wkhtmltopdf could not be installed: the report PDF test will fail."
    fi
    "$odoo_py" -c "import websocket" >/dev/null 2>&1 \
      || "$odoo_py" -m pip install -q --disable-pip-version-check websocket-client \
      || say "websocket-client could not be installed into Odoo's Python: the tours cannot run."
    # Odoo's longpolling process (odoo-bin gevent, started beside the workers of the harness) must
    # start, or the server starts it again every second and the harness's run shares its cores with
    # that: Odoo 18's gevent 22.10.2 under a virtualenv's setuptools 65 does not find zope.interface
    # 7+ / zope.event 5.1+, whose metadata folders have the new normalised names
    longpolling="import sys; sys.argv = ['$odoo_bin', 'gevent']; sys.path.insert(0, '$(dirname "$odoo_bin")'); import odoo"
    if ! "$odoo_py" -c "$longpolling" >/dev/null 2>&1; then
      say "Odoo's longpolling process cannot start in $odoo_py: installing zope.interface<7 and zope.event<5.1 into it"
      "$odoo_py" -m pip install -q --disable-pip-version-check "zope.interface<7" "zope.event<5.1" >/dev/null 2>&1
      "$odoo_py" -c "$longpolling" >/dev/null 2>&1 \
        || say "Odoo's longpolling process still cannot start: the workers harness runs, slower (see its log)."
    fi
    # The databases' test runs go side by side, each in its own Odoo process, database, HTTP
    # port and log: one Odoo test process keeps about one core busy, and these machines have
    # two. The first database (crm, the shorter) is followed in its lane by the Odoo.sh-style
    # requirements install (a fresh virtualenv with only Odoo's and this repository's
    # requirements) and the workers harness, on databases and ports of their own. Each lane's
    # output is printed whole, in order, once both have finished. ODOO_TESTS_SERIAL=1 runs
    # them one after the other.
    lanes_dir="$(mktemp -d "${TMPDIR:-/tmp}/flitstack-test-lanes.XXXXXX")"
    lane=0 lane_pids=()
    for entry in $ODOO_DATABASES; do
      lane=$((lane + 1))
      (
        odoo_passed=0 odoo_failed=0 lane_status=0
        run_odoo_tests "$odoo_bin" "$odoo_py" "${entry%%:*}" "${entry#*:}" || lane_status=1
        if [ "$lane" = "1" ]; then
          ODOO_DIR="$(dirname "$odoo_bin")" bash "$repo/scripts/test_requirements_install.sh" || lane_status=1
          run_workers_harness "$odoo_bin" "$odoo_py" || lane_status=1
        fi
        printf '%s %s %s\n' "$odoo_passed" "$odoo_failed" "$lane_status" >"$lanes_dir/$lane.counts"
      ) >"$lanes_dir/$lane.out" 2>&1 &
      lane_pids+=("$!")
      [ "${ODOO_TESTS_SERIAL:-0}" = "1" ] && wait "$!"
    done
    wait "${lane_pids[@]}"
    for ((i = 1; i <= lane; i++)); do
      cat "$lanes_dir/$i.out"
      if read -r p f s <"$lanes_dir/$i.counts"; then
        odoo_passed=$((odoo_passed + p)); odoo_failed=$((odoo_failed + f)); [ "$s" = "0" ] || status=1
      else
        say "Odoo test lane $i ended without a result: see its output above."; odoo_failed=$((odoo_failed + 1)); status=1
      fi
    done
    rm -rf "$lanes_dir"
    say "odoo: $odoo_passed passed, $odoo_failed failed"
  fi
else
  say "Odoo tests skipped: no Odoo 18 install found (set ODOO_BIN to its odoo-bin, and ODOO_PYTHON to a Python that imports it)."
fi
exit "$status"
