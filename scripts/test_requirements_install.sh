#!/usr/bin/env bash
# Can a deployment that installs only this repository's requirements.txt install the addon?
#
#   bash scripts/test_requirements_install.sh
#
# This is how Odoo.sh (and most partner setups) deploy a repository of addons: Odoo's own
# Python packages are there, the platform runs `pip install -r requirements.txt` from the
# repository, and the repository's folders go on the addons path. The script does the same
# on this machine:
#
# 1. Finds an Odoo 18 source tree at $ODOO_DIR (default /opt/odoo18). None: one line, exit 0.
# 2. Creates a fresh virtualenv (no system site-packages) with $PYTHON (default python3) and
#    installs Odoo's requirements.txt into it. Some of Odoo's pins only build with an old
#    setuptools, so pip's build environments get `setuptools<70` (PIP_BUILD_CONSTRAINT).
#    Odoo's packages are built once into a wheelhouse under .cache/, so re-runs install
#    them offline.
# 3. From the repository root, runs `pip install -r requirements.txt` and nothing else.
# 4. Unpacks OCA queue_job (QUEUE_JOB_VERSION, default 18.0.3.1.2) into .cache/addons, as
#    scripts/test.sh does, and installs flitstack_migration into a throw-away database with
#    that virtualenv's Python, from outside the repository (so the library can only come
#    from what pip installed).
# 5. Checks ir_module_module says `installed`, drops the database and the virtualenv.
#
# Exit 0 when the addon installs (or Odoo is not found), 1 with one line saying what failed.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
ODOO_DIR="${ODOO_DIR:-/opt/odoo18}"
PYTHON="${PYTHON:-python3}"
QUEUE_JOB_VERSION="${QUEUE_JOB_VERSION:-18.0.3.1.2}"
cache="$repo/.cache"
log="$cache/requirements-install.log"

say() { printf '%s\n' "$*"; }
fail() { say "requirements install test FAILED: $* (log: $log)"; exit 1; }

if [ ! -f "$ODOO_DIR/odoo-bin" ] || [ ! -f "$ODOO_DIR/requirements.txt" ]; then
  say "requirements install test skipped: no Odoo 18 source tree at $ODOO_DIR (set ODOO_DIR)."
  exit 0
fi
if ! grep -qE "^version_info = \(18," "$ODOO_DIR/odoo/release.py" 2>/dev/null; then
  say "requirements install test skipped: $ODOO_DIR is not Odoo 18 (set ODOO_DIR)."
  exit 0
fi

mkdir -p "$cache"
: >"$log"
started=$SECONDS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR="$cache/pip"
constraint="$cache/build-constraint.txt"
printf 'setuptools<70\n' >"$constraint"
export PIP_BUILD_CONSTRAINT="$constraint"

db="flitstack_reqs_$$"
venv="$(mktemp -d "${TMPDIR:-/tmp}/flitstack-reqs-venv.XXXXXX")"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/flitstack-reqs-run.XXXXXX")"
cleanup() {
  dropdb --if-exists "$db" >/dev/null 2>&1
  rm -rf "$venv" "$workdir"
}
trap cleanup EXIT

# -- 2. a fresh virtualenv with Odoo's requirements -----------------------------------------
"$PYTHON" -m venv "$venv" >>"$log" 2>&1 || fail "could not create a virtualenv with $PYTHON"
py="$venv/bin/python"
"$py" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
  || fail "$PYTHON is not a Python Odoo 18 supports (3.10 to 3.12)"
"$py" -m pip install -q -U pip wheel "setuptools<70" >>"$log" 2>&1 || fail "could not update pip in the virtualenv"

odoo_reqs="$ODOO_DIR/requirements.txt"
key="$("$py" -c 'import hashlib, sys; print(hashlib.sha1(open(sys.argv[1], "rb").read() + sys.version.encode()).hexdigest()[:12])' "$odoo_reqs")"
wheelhouse="$cache/wheelhouse/odoo18-$key"
if [ ! -f "$wheelhouse/.complete" ]; then
  mkdir -p "$wheelhouse"
  "$py" -m pip wheel -q -w "$wheelhouse" -r "$odoo_reqs" >>"$log" 2>&1 \
    || fail "could not build Odoo's requirements ($odoo_reqs) into $wheelhouse"
  touch "$wheelhouse/.complete"
fi
"$py" -m pip install -q --no-index --find-links "$wheelhouse" -r "$odoo_reqs" >>"$log" 2>&1 \
  || fail "could not install Odoo's requirements from $wheelhouse"

# -- 3. this repository's requirements.txt, from the repository root -----------------------
[ -f "$repo/requirements.txt" ] || fail "there is no requirements.txt at $repo"
"$py" -m pip install -q -r requirements.txt >>"$log" 2>&1 || fail "pip install -r requirements.txt did not succeed"

# -- 4. queue_job, then the addon into a new database --------------------------------------
addons_cache="$cache/addons"
if ! { [ -f "$addons_cache/queue_job/__manifest__.py" ] \
       && grep -q "\"$QUEUE_JOB_VERSION\"" "$addons_cache/queue_job/__manifest__.py"; }; then
  mkdir -p "$addons_cache" "$cache/wheels"
  "$py" -m pip download -q --no-deps -d "$cache/wheels" "odoo-addon-queue-job==$QUEUE_JOB_VERSION" >>"$log" 2>&1 \
    || fail "could not fetch odoo-addon-queue-job $QUEUE_JOB_VERSION from the package index"
  rm -rf "$addons_cache/queue_job"
  "$py" - "$cache/wheels" "$addons_cache" "$QUEUE_JOB_VERSION" <<'PY' >>"$log" 2>&1 || fail "could not unpack queue_job"
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
fi

pg_isready -q 2>/dev/null || fail "PostgreSQL does not answer (start it, or run scripts/test.sh once)"
psql -d postgres -tAc "select 1" >/dev/null 2>&1 || fail "PostgreSQL refuses $(id -un): createuser -s $(id -un)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
addons="$ODOO_DIR/odoo/addons,$ODOO_DIR/addons,$addons_cache,$repo"
dropdb --if-exists "$db" >/dev/null 2>&1
# run from an empty folder, with no PYTHONPATH: flitstack_connectors must come from the venv
(cd "$workdir" && env -u PYTHONPATH "$py" "$ODOO_DIR/odoo-bin" --addons-path="$addons" -d "$db" \
   -i flitstack_migration --stop-after-init --without-demo=all --http-interface=127.0.0.1 \
   --http-port="$port" --no-database-list --log-level=warn) >>"$log" 2>&1
odoo_rc=$?

# -- 5. did it install? ---------------------------------------------------------------------
state="$(psql -d "$db" -tAc "select state from ir_module_module where name = 'flitstack_migration'" 2>/dev/null)"
if [ "$state" != "installed" ]; then
  reason="$(grep -E " (ERROR|CRITICAL) " "$log" | tail -1 | sed -E 's/^.* (ERROR|CRITICAL) [^ ]+ //' | cut -c1-200)"
  fail "flitstack_migration is '${state:-absent}' in a new database after odoo-bin exited $odoo_rc${reason:+: $reason}"
fi
where="$(cd "$workdir" && "$py" -c 'import flitstack_connectors, os; print(os.path.dirname(flitstack_connectors.__file__))' 2>/dev/null)"
say "requirements install test passed: flitstack_migration installed from requirements.txt alone ($((SECONDS - started))s; library at ${where:-?})"
