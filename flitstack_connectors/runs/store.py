"""The state store of the ``flitstack`` command: an SQLite file by default,
PostgreSQL when given a ``postgresql://`` URL, through SQLAlchemy 2.

It holds connections (no secrets: URLs, tenant and client id only), map
versions (confirmed or not, by whom and when), runs, per-object-map counts,
the id map (source record -> Dataverse row id and the hash of the values last
written) and one audit line per create, update, skip or fail, with the old
values of updated columns (what rollback needs, nothing else).  While a run is
unfinished it also holds each source object's extraction (its cursor) and the
planned records staged from it for the object maps that read it, so that an
object is read once per run and an interrupted read resumes; they are purged when
the run ends (done, superseded).  Its schema is
kept by Alembic migrations (``runs/migrations``), applied when the store opens.
"""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import ConfigurationError
from ..mapping.spec import MapSpec

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_STATE = "flitstack-state.sqlite"

metadata = sa.MetaData()
connections = sa.Table(
    "connections", metadata,
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("source_kind", sa.String(40)),
    sa.Column("source_url", sa.String(500)), sa.Column("destination", sa.String(40)),
    sa.Column("destination_url", sa.String(500)), sa.Column("tenant", sa.String(200)),
    sa.Column("client_id", sa.String(200)), sa.Column("created_at", sa.DateTime(timezone=True)))
map_versions = sa.Table(
    "map_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("connection_id", sa.Integer),
    sa.Column("version", sa.Integer), sa.Column("digest", sa.String(64)), sa.Column("spec_json", sa.Text),
    sa.Column("confirmed_by", sa.String(200)), sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True)))
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("connection_id", sa.Integer),
    sa.Column("map_version_id", sa.Integer), sa.Column("mode", sa.String(20)), sa.Column("status", sa.String(20)),
    sa.Column("since", sa.DateTime(timezone=True)), sa.Column("fallback_owner", sa.String(200)),
    sa.Column("pid", sa.Integer), sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)), sa.Column("rolled_back_at", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text))
run_counts = sa.Table(
    "run_counts", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True), sa.Column("map_name", sa.String(200), primary_key=True),
    sa.Column("position", sa.Integer), sa.Column("table_name", sa.String(100)), sa.Column("read", sa.Integer),
    sa.Column("done", sa.Boolean))
id_map = sa.Table(
    "id_map", metadata,
    sa.Column("connection_id", sa.Integer, primary_key=True), sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("source_id", sa.String(200), primary_key=True), sa.Column("table_name", sa.String(100)),
    sa.Column("guid", sa.String(36)), sa.Column("hash", sa.String(64)), sa.Column("run_id", sa.Integer))
audit_lines = sa.Table(
    "audit_lines", metadata,
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("run_id", sa.Integer),
    sa.Column("map_name", sa.String(200)), sa.Column("identity", sa.String(200)),
    sa.Column("table_name", sa.String(100)), sa.Column("source_id", sa.String(200)), sa.Column("guid", sa.String(36)),
    sa.Column("action", sa.String(10)), sa.Column("state", sa.String(10)), sa.Column("old_values", sa.Text),
    sa.Column("reason", sa.Text), sa.Column("notes", sa.Text), sa.Column("created_at", sa.DateTime(timezone=True)))
extractions = sa.Table(
    "extractions", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True), sa.Column("source_object", sa.String(200), primary_key=True),
    sa.Column("cursor", sa.Text), sa.Column("records_read", sa.Integer), sa.Column("pages_read", sa.Integer),
    sa.Column("done", sa.Boolean))
staged_records = sa.Table(
    "staged_records", metadata,
    sa.Column("run_id", sa.Integer, primary_key=True), sa.Column("map_name", sa.String(200), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True), sa.Column("source_id", sa.String(200)),
    sa.Column("payload", sa.Text))

#: run statuses
RUNNING, INTERRUPTED, DONE, FAILED, ROLLED_BACK = "running", "interrupted", "done", "failed", "rolled_back"


def now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: Optional[datetime]) -> Optional[datetime]:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def spec_digest(spec: MapSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()


def postgresql_driver() -> str:
    """The PostgreSQL driver installed: psycopg (3) or, else, psycopg2 (SQLAlchemy 2.1 takes
    ``postgresql://`` for psycopg 3 alone)."""
    import importlib.util

    for name in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise ConfigurationError("--state postgresql://... needs a PostgreSQL driver: pip install 'psycopg[binary]'")


def state_url(state: Optional[str]) -> str:
    """An SQLAlchemy URL for ``--state``: a path (SQLite) or a database URL."""
    state = state or DEFAULT_STATE
    if "://" in state:
        if state.startswith("postgresql://"):
            return "postgresql+" + postgresql_driver() + state[len("postgresql"):]
        if state.startswith(("postgresql+psycopg://", "postgresql+psycopg2://", "sqlite://")):
            return state
        raise ConfigurationError("--state takes a file path (SQLite) or a postgresql:// URL")
    return "sqlite:///" + str(Path(state).expanduser().resolve())


def upgrade(engine: Engine) -> None:
    """Apply the Alembic migrations up to the newest."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class StateStore:
    """The store at ``state`` (see :func:`state_url`); thread-safe (one lock)."""

    def __init__(self, state: Optional[str] = None):
        url = state_url(state)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine = sa.create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                @sa.event.listens_for(self.engine, "connect")
                def _pragmas(dbapi_conn, _record):  # noqa: ANN001
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.close()
            upgrade(self.engine)
        except sa.exc.OperationalError as exc:
            raise ConfigurationError(f"Cannot open the state store ({type(exc.orig).__name__}): check --state, "
                                     f"its folder and permissions") from None
        self.lock = threading.RLock()
        self.url = self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def _begin(self):
        return self.engine.begin()

    # -- connections and maps ------------------------------------------------------
    def connection(self, *, source_kind: str, source_url: str, destination: str, destination_url: str,
                   tenant: Optional[str] = None, client_id: Optional[str] = None) -> int:
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(connections.c.id).where(
                connections.c.source_kind == source_kind, connections.c.source_url == source_url,
                connections.c.destination == destination, connections.c.destination_url == destination_url)).first()
            if row:
                c.execute(connections.update().where(connections.c.id == row.id).values(tenant=tenant,
                                                                                       client_id=client_id))
                return int(row.id)
            return int(c.execute(connections.insert().values(
                source_kind=source_kind, source_url=source_url, destination=destination,
                destination_url=destination_url, tenant=tenant, client_id=client_id, created_at=now())
            ).inserted_primary_key[0])

    def map_version(self, connection_id: int, spec: MapSpec) -> dict[str, Any]:
        """The stored version of ``spec`` (created unconfirmed when new)."""
        digest = spec_digest(spec)
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(map_versions).where(map_versions.c.connection_id == connection_id,
                                                          map_versions.c.digest == digest)).first()
            if row is None:
                last = c.execute(sa.select(sa.func.max(map_versions.c.version)).where(
                    map_versions.c.connection_id == connection_id)).scalar() or 0
                c.execute(map_versions.insert().values(connection_id=connection_id, version=last + 1, digest=digest,
                                                       spec_json=spec.to_json(), created_at=now()))
                row = c.execute(sa.select(map_versions).where(map_versions.c.connection_id == connection_id,
                                                              map_versions.c.digest == digest)).first()
            return dict(row._mapping)

    def confirm_map(self, map_version_id: int, by: str) -> dict[str, Any]:
        with self.lock, self._begin() as c:
            c.execute(map_versions.update().where(map_versions.c.id == map_version_id,
                                                  map_versions.c.confirmed_at.is_(None))
                      .values(confirmed_by=by, confirmed_at=now()))
            return dict(c.execute(sa.select(map_versions).where(map_versions.c.id == map_version_id)).first()._mapping)

    def map_spec(self, map_version_id: int) -> MapSpec:
        with self.lock, self._begin() as c:
            text = c.execute(sa.select(map_versions.c.spec_json).where(map_versions.c.id == map_version_id)).scalar()
        return MapSpec.from_json(text)

    # -- runs ------------------------------------------------------------------------
    def start_run(self, connection_id: int, map_version_id: int, mode: str, *, since: Optional[datetime],
                  fallback_owner: Optional[str], pid: int) -> int:
        with self.lock, self._begin() as c:
            return int(c.execute(runs.insert().values(
                connection_id=connection_id, map_version_id=map_version_id, mode=mode, status=RUNNING, since=since,
                fallback_owner=fallback_owner, pid=pid, started_at=now())).inserted_primary_key[0])

    def run(self, run_id: int) -> Optional[dict[str, Any]]:
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        for k in ("since", "started_at", "finished_at", "rolled_back_at"):
            out[k] = _aware(out[k])
        return out

    def runs(self, connection_id: Optional[int] = None) -> list[dict[str, Any]]:
        q = sa.select(runs.c.id).order_by(runs.c.id)
        if connection_id is not None:
            q = q.where(runs.c.connection_id == connection_id)
        with self.lock, self._begin() as c:
            ids = [r.id for r in c.execute(q)]
        return [self.run(i) for i in ids]  # type: ignore[misc]

    def unfinished_run(self, connection_id: int) -> Optional[dict[str, Any]]:
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(runs.c.id).where(runs.c.connection_id == connection_id,
                                                       runs.c.status.in_([RUNNING, INTERRUPTED]))
                            .order_by(runs.c.id.desc())).first()
        return self.run(row.id) if row else None

    def last_finished_run(self, connection_id: int, before: Optional[int] = None) -> Optional[dict[str, Any]]:
        q = sa.select(runs.c.id).where(runs.c.connection_id == connection_id, runs.c.status == DONE,
                                       runs.c.mode.in_(["full", "delta"])).order_by(runs.c.id.desc())
        if before is not None:
            q = q.where(runs.c.id < before)
        with self.lock, self._begin() as c:
            row = c.execute(q).first()
        return self.run(row.id) if row else None

    def set_run(self, run_id: int, **values: Any) -> None:
        with self.lock, self._begin() as c:
            c.execute(runs.update().where(runs.c.id == run_id).values(**values))

    # -- counts ------------------------------------------------------------------------
    def map_count(self, run_id: int, map_name: str) -> Optional[dict[str, Any]]:
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(run_counts).where(run_counts.c.run_id == run_id,
                                                        run_counts.c.map_name == map_name)).first()
        return dict(row._mapping) if row else None

    def set_map_count(self, run_id: int, map_name: str, *, position: int, table_name: str, read: int,
                      done: bool) -> None:
        with self.lock, self._begin() as c:
            if c.execute(sa.select(run_counts.c.run_id).where(run_counts.c.run_id == run_id,
                                                              run_counts.c.map_name == map_name)).first():
                c.execute(run_counts.update().where(run_counts.c.run_id == run_id, run_counts.c.map_name == map_name)
                          .values(read=read, done=done))
            else:
                c.execute(run_counts.insert().values(run_id=run_id, map_name=map_name, position=position,
                                                     table_name=table_name, read=read, done=done))

    def counts(self, run_id: int) -> list[dict[str, Any]]:
        """Per object map: read, created, updated, skipped, failed (done lines)."""
        with self.lock, self._begin() as c:
            maps = [dict(r._mapping) for r in c.execute(sa.select(run_counts).where(run_counts.c.run_id == run_id)
                                                         .order_by(run_counts.c.position))]
            tallies = c.execute(sa.select(audit_lines.c.map_name, audit_lines.c.action, sa.func.count())
                                .where(audit_lines.c.run_id == run_id, audit_lines.c.state == "done")
                                .group_by(audit_lines.c.map_name, audit_lines.c.action)).all()
        by = {}
        for name, action, n in tallies:
            by.setdefault(name, {})[action] = int(n)
        out = []
        for m in maps:
            t = by.get(m["map_name"], {})
            row = {"map": m["map_name"], "table": m["table_name"], "read": int(m["read"] or 0),
                   "created": t.get("create", 0), "updated": t.get("update", 0), "skipped": t.get("skip", 0),
                   "failed": t.get("fail", 0), "done": bool(m["done"])}
            row["closes"] = row["read"] == row["created"] + row["updated"] + row["skipped"] + row["failed"]
            out.append(row)
        return out

    # -- id map ---------------------------------------------------------------------------
    def id_map(self, connection_id: int, identity: str) -> dict[str, dict[str, Any]]:
        with self.lock, self._begin() as c:
            rows = c.execute(sa.select(id_map).where(id_map.c.connection_id == connection_id,
                                                     id_map.c.identity == identity)).all()
        return {r.source_id: dict(r._mapping) for r in rows}

    def put_ids(self, connection_id: int, entries: Iterable[dict[str, Any]]) -> None:
        """Insert or replace id map entries (``identity, source_id, table_name, guid, hash, run_id``)."""
        entries = list(entries)
        if not entries:
            return
        with self.lock, self._begin() as c:
            self._put_ids(c, connection_id, entries)

    @staticmethod
    def _put_ids(c, connection_id: int, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        for e in entries:
            c.execute(id_map.delete().where(id_map.c.connection_id == connection_id,
                                            id_map.c.identity == e["identity"],
                                            id_map.c.source_id == e["source_id"]))
        c.execute(id_map.insert(), [{"connection_id": connection_id, **e} for e in entries])

    def fill_guids(self, connection_id: int, identity: str, guids: dict[str, str]) -> None:
        if not guids:
            return
        stmt = id_map.update().where(id_map.c.connection_id == connection_id, id_map.c.identity == identity,
                                     id_map.c.source_id == sa.bindparam("b_sid"), id_map.c.guid.is_(None)
                                     ).values(guid=sa.bindparam("b_guid"))
        with self.lock, self._begin() as c:
            c.execute(stmt, [{"b_sid": sid, "b_guid": guid} for sid, guid in guids.items()])

    def drop_ids(self, connection_id: int, identity: str, source_ids: Iterable[str]) -> None:
        with self.lock, self._begin() as c:
            for sid in source_ids:
                c.execute(id_map.delete().where(id_map.c.connection_id == connection_id,
                                                id_map.c.identity == identity, id_map.c.source_id == sid))

    def forget_hashes(self, connection_id: int, identity: str, source_ids: Iterable[str]) -> None:
        with self.lock, self._begin() as c:
            for sid in source_ids:
                c.execute(id_map.update().where(id_map.c.connection_id == connection_id,
                                                id_map.c.identity == identity, id_map.c.source_id == sid)
                          .values(hash=None))

    # -- audit lines ----------------------------------------------------------------------
    def add_lines(self, run_id: int, lines: Iterable[dict[str, Any]]) -> None:
        """Insert audit lines (``map_name, identity, table_name, source_id, guid,
        action, state, old_values, reason, notes``) in one statement."""
        with self.lock, self._begin() as c:
            self._add_lines(c, run_id, lines)

    @staticmethod
    def _add_lines(c, run_id: int, lines: Iterable[dict[str, Any]]) -> None:
        stamp = now()
        rows = []
        for line in lines:
            row = {"run_id": run_id, "created_at": stamp, "guid": None, "old_values": None, "reason": None,
                   "notes": None, **line}
            if isinstance(row["old_values"], dict):
                row["old_values"] = json.dumps(row["old_values"], sort_keys=True, default=str)
            if isinstance(row["notes"], list):
                row["notes"] = "; ".join(row["notes"]) or None
            rows.append(row)
        if rows:
            c.execute(audit_lines.insert(), rows)

    def mark_done(self, run_id: int, map_name: str, source_ids: Iterable[str]) -> None:
        with self.lock, self._begin() as c:
            self._mark_done(c, run_id, map_name, list(source_ids))

    @staticmethod
    def _mark_done(c, run_id: int, map_name: str, ids: list[str]) -> None:
        for chunk in range(0, len(ids), 500):
            c.execute(audit_lines.update().where(audit_lines.c.run_id == run_id,
                                                 audit_lines.c.map_name == map_name,
                                                 audit_lines.c.state == "pending",
                                                 audit_lines.c.source_id.in_(ids[chunk:chunk + 500]))
                      .values(state="done"))

    def finish_batch(self, run_id: int, map_name: str, connection_id: int, *, final: list[dict[str, Any]],
                     done: list[str], ids: list[dict[str, Any]]) -> None:
        """A written batch's outcome in one transaction: its skip and fail lines, its pending lines
        turned done and the id map entries of its rows; a process killed half-way through leaves the
        lines pending (written again on resume), never done lines whose rows the id map lacks."""
        with self.lock, self._begin() as c:
            self._add_lines(c, run_id, final)
            self._mark_done(c, run_id, map_name, done)
            self._put_ids(c, connection_id, ids)

    def set_reasons(self, run_id: int, map_name: str, reasons: dict[str, str]) -> None:
        """A reason on the run's lines of these records (a row written but not closed)."""
        stmt = audit_lines.update().where(audit_lines.c.run_id == run_id, audit_lines.c.map_name == map_name,
                                          audit_lines.c.source_id == sa.bindparam("b_sid")
                                          ).values(reason=sa.bindparam("b_reason"))
        with self.lock, self._begin() as c:
            c.execute(stmt, [{"b_sid": sid, "b_reason": reason} for sid, reason in reasons.items()])

    def drop_pending(self, run_id: int, map_name: str, source_ids: Iterable[str]) -> None:
        ids = list(source_ids)
        with self.lock, self._begin() as c:
            for chunk in range(0, len(ids), 500):
                c.execute(audit_lines.delete().where(audit_lines.c.run_id == run_id,
                                                     audit_lines.c.map_name == map_name,
                                                     audit_lines.c.state == "pending",
                                                     audit_lines.c.source_id.in_(ids[chunk:chunk + 500])))

    def fill_line_guids(self, run_id: int, identity: str, guids: dict[str, str],
                        map_name: Optional[str] = None) -> None:
        """Row ids onto the run's lines that lack one; with ``map_name``, one statement on the
        index of the map's lines (the identity alone scans every line of the run per row)."""
        if not guids:
            return
        where = [audit_lines.c.run_id == run_id, audit_lines.c.identity == identity,
                 audit_lines.c.source_id == sa.bindparam("b_sid"), audit_lines.c.guid.is_(None)]
        if map_name is not None:
            where.append(audit_lines.c.map_name == map_name)
        stmt = audit_lines.update().where(*where).values(guid=sa.bindparam("b_guid"))
        with self.lock, self._begin() as c:
            c.execute(stmt, [{"b_sid": sid, "b_guid": guid} for sid, guid in guids.items()])

    def lines(self, run_id: int, *, map_name: Optional[str] = None, states: Optional[list[str]] = None,
              actions: Optional[list[str]] = None) -> list[dict[str, Any]]:
        q = sa.select(audit_lines).where(audit_lines.c.run_id == run_id).order_by(audit_lines.c.id)
        if map_name is not None:
            q = q.where(audit_lines.c.map_name == map_name)
        if states:
            q = q.where(audit_lines.c.state.in_(states))
        if actions:
            q = q.where(audit_lines.c.action.in_(actions))
        with self.lock, self._begin() as c:
            rows = c.execute(q).all()
        out = []
        for r in rows:
            d = dict(r._mapping)
            d["old_values"] = json.loads(d["old_values"]) if d["old_values"] else None
            out.append(d)
        return out

    def later_writes(self, run_id: int, connection_id: int) -> list[dict[str, Any]]:
        """Create/update lines of later runs of the connection not rolled back."""
        later = sa.select(runs.c.id).where(runs.c.connection_id == connection_id, runs.c.id > run_id,
                                           runs.c.status != ROLLED_BACK)
        q = (sa.select(audit_lines.c.run_id, audit_lines.c.table_name, audit_lines.c.source_id,
                       audit_lines.c.identity)
             .where(audit_lines.c.run_id.in_(later), audit_lines.c.action.in_(["create", "update"])))
        with self.lock, self._begin() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # -- extraction and staging ------------------------------------------------------------
    def extraction(self, run_id: int, source_object: str) -> Optional[dict[str, Any]]:
        """``cursor`` (a dict, or None before the first page and after the last), ``records_read``,
        ``pages_read``, ``done``; None when the object's read has not started."""
        with self.lock, self._begin() as c:
            row = c.execute(sa.select(extractions).where(extractions.c.run_id == run_id,
                                                         extractions.c.source_object == source_object)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["cursor"] = json.loads(out["cursor"]) if out["cursor"] else None
        return out

    def stage_page(self, run_id: int, source_object: str, rows: list[dict[str, Any]], *,
                   cursor: Optional[dict[str, Any]], records_read: int, pages_read: int) -> None:
        """One page's planned records (``map_name, position, source_id, payload``) and the
        cursor after it, in one transaction: a read resumed from the stored cursor never
        stages a record twice.  ``cursor`` None ends the object's read."""
        values = {"cursor": json.dumps(cursor) if cursor else None, "records_read": records_read,
                  "pages_read": pages_read, "done": cursor is None}
        with self.lock, self._begin() as c:
            if rows:
                c.execute(staged_records.insert(), [{"run_id": run_id, **r} for r in rows])
            done = c.execute(extractions.update().where(extractions.c.run_id == run_id,
                                                        extractions.c.source_object == source_object)
                             .values(**values)).rowcount
            if not done:
                c.execute(extractions.insert().values(run_id=run_id, source_object=source_object, **values))

    def staged(self, run_id: int, map_name: str, *, after: int = 0, limit: int = 500) -> list[tuple[int, str]]:
        """``(position, payload)`` of a map's staged records after position ``after``, in read order."""
        with self.lock, self._begin() as c:
            return [(int(r.position), r.payload) for r in c.execute(
                sa.select(staged_records.c.position, staged_records.c.payload)
                .where(staged_records.c.run_id == run_id, staged_records.c.map_name == map_name,
                       staged_records.c.position > after)
                .order_by(staged_records.c.position).limit(limit))]

    def staged_counts(self, run_id: int) -> dict[str, int]:
        with self.lock, self._begin() as c:
            return {r[0]: int(r[1]) for r in c.execute(
                sa.select(staged_records.c.map_name, sa.func.count()).where(staged_records.c.run_id == run_id)
                .group_by(staged_records.c.map_name))}

    def staged_ids(self, run_id: int) -> list[tuple[str, str]]:
        """``(map_name, source_id)`` of every staged record of the run."""
        with self.lock, self._begin() as c:
            return [(r.map_name, r.source_id) for r in c.execute(
                sa.select(staged_records.c.map_name, staged_records.c.source_id)
                .where(staged_records.c.run_id == run_id))]

    def purge_staging(self, run_id: int) -> None:
        """Drop the run's staged records and extractions (record values leave the store)."""
        with self.lock, self._begin() as c:
            c.execute(staged_records.delete().where(staged_records.c.run_id == run_id))
            c.execute(extractions.delete().where(extractions.c.run_id == run_id))
