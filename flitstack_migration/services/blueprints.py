"""A run's blueprints: what its source holds that Odoo cannot take as data.

1. At the end of a full run, :meth:`RunBlueprints.attach` reads the source's
   blueprint kinds (flitstack_connectors.blueprints) and keeps them on the run as
   one zip archive (``blueprints_zip``: a JSON document per kind, its JSON Schema,
   ``index.json``) with the index in ``blueprints_summary``; a new read replaces
   the previous one. The archive lives in the run's own table, not as
   ir.attachment rows, so the attachments a run migrates are all the ones it adds.
   What the blueprints need of an object the run read (Clio's matters with custom
   rates, its practice areas) comes from the rows the run staged as it read it
   (``blueprints:<object>``, :mod:`.extraction`), not from a second read of the
   source; only what no run reads (templates, stages, webhooks, rates) is read, once.
   Clio's matter rates take one look-up per matter with custom rates and attorney:
   :meth:`RunBlueprints.look_up_rates` does them :data:`RATES_PER_JOB` matters at a
   time, one job each (the run's ``_job_blueprints`` enqueues itself until none is
   left), keeps them as staged rows and the rate limiter's pace on the run, and
   :meth:`~RunBlueprints.attach` builds the documents from them.
2. :meth:`RunBlueprints.zip` gives the archive (the run form's "Download blueprints",
   controllers/blueprints.py).

Reading blueprints never fails the run: a source that cannot give them is said
in the chatter (our own error's message, which names no record values, or the
type of any other error).
"""
import base64
import io
import json
import logging

from psycopg2.extras import Json

from flitstack_connectors.blueprints import read_blueprints, write_zip
from flitstack_connectors.blueprints.clio import matter_rate, rate_lookups
from flitstack_connectors.errors import FlitstackError, RateLimitError, SourceUnavailableError

from .extraction import BLUEPRINT_ROWS
from .source_factory import make_source

#: staged rows fetched at a time when the blueprints go through a run's reads
CHUNK = 1000
#: matters whose rates one job looks up (two look-ups each at most: about 50 s at
#: Clio's 50 requests a minute, well inside Odoo's limit_time_real of 120 s)
RATES_PER_JOB = 20
#: staged rows of the matter rates looked up so far (position: the matter's in the read)
RATE_ROWS = BLUEPRINT_ROWS % "matter_rates"

_logger = logging.getLogger(__name__)


class RunBlueprints:
    """The blueprints of one flitstack.run."""

    def __init__(self, run):
        self.run = run

    def attach(self):
        """Read the source's blueprints and keep them on the run; returns the number of
        documents (None when the run is not a full one or the source could not give them)."""
        run = self.run
        if run.mode != "full":
            return None
        try:
            source = make_source(run.connection_id.sudo())
            self._restore_pace(source)
            try:
                looked_up = self._looked_up_rates()

                def rate_of(matter_id, user_id):
                    key = (str(matter_id), str(user_id))
                    return looked_up[key] if key in looked_up else matter_rate(source, matter_id, user_id)

                blueprints = read_blueprints(source, staged=self.staged(), matter_rates=rate_of)
            finally:
                source.close()
            buffer = io.BytesIO()
            write_zip(blueprints, buffer)
        except Exception as exc:  # noqa: BLE001 - blueprints never fail the run they follow
            _logger.warning("flitstack: run %s: blueprints not read (%s)", run.id, type(exc).__name__)
            why = str(exc) if isinstance(exc, FlitstackError) else type(exc).__name__
            run.message_post(body=run.env._("Blueprints were not read from the source: %s", why))
            return None
        run.write({"blueprints_zip": base64.b64encode(buffer.getvalue()),
                   "blueprints_summary": json.dumps(blueprints.summary(), indent=2)})
        kinds = ", ".join(f"{d.kind} ({d.item_count})" for d in blueprints.documents) or run.env._("none")
        run.message_post(body=run.env._("Blueprints: %(count)s documents, %(kinds)s. Download them from the run.",
                                count=len(blueprints.documents), kinds=kinds))
        return len(blueprints.documents)

    # -- matter rates, a few matters per job ----------------------------------------
    def look_up_rates(self, limit=RATES_PER_JOB):
        """Look up the rates of the next ``limit`` staged matters with custom rates and
        stage them; True when more are left. A source error other than its limit or
        its being unavailable (which the job retries) leaves the rest to :meth:`attach`."""
        run = self.run
        if run.mode != "full" or run.connection_id.kind != "clio":
            return False
        cr = run.env.cr
        cr.execute("""
            SELECT m.position, m.payload FROM flitstack_run_record m
            WHERE m.run_id = %s AND m.map_name = %s AND NOT EXISTS (
                SELECT 1 FROM flitstack_run_record r
                WHERE r.run_id = m.run_id AND r.map_name = %s AND r.position = m.position)
            ORDER BY m.position LIMIT %s""", [run.id, BLUEPRINT_ROWS % "matters", RATE_ROWS, limit + 1])
        todo = cr.fetchall()
        if not todo:
            return False
        source = make_source(run.connection_id.sudo())
        self._restore_pace(source)
        rows = []
        try:
            for position, matter in todo[:limit]:
                rates = {uid: matter_rate(source, matter["id"], uid) for uid in rate_lookups(matter)}
                rows.append((position, str(matter["id"]), {"matter_id": str(matter["id"]), "rates": rates}))
            limiter = getattr(source, "rate_limiter", None)
            pace = limiter.snapshot() if limiter is not None else False
        except (RateLimitError, SourceUnavailableError):
            raise
        except FlitstackError as exc:
            _logger.warning("flitstack: run %s: matter rates not looked up (%s)", run.id, type(exc).__name__)
            return False
        finally:
            source.close()
        cr.execute(
            "INSERT INTO flitstack_run_record (run_id, map_name, position, source_id, payload) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows)) + " ON CONFLICT (run_id, map_name, position) DO NOTHING",
            [v for position, sid, payload in rows for v in (run.id, RATE_ROWS, position, sid, Json(payload))])
        run.blueprints_pace = pace
        return len(todo) > limit

    def _looked_up_rates(self):
        """``{(matter id, user id): rate or None}`` of the rates staged by :meth:`look_up_rates`."""
        self.run.env.cr.execute("SELECT payload FROM flitstack_run_record WHERE run_id = %s AND map_name = %s",
                                [self.run.id, RATE_ROWS])
        return {(row["matter_id"], str(uid)): rate for (row,) in self.run.env.cr.fetchall()
                for uid, rate in (row.get("rates") or {}).items()}

    def _restore_pace(self, source):
        limiter = getattr(source, "rate_limiter", None)
        pace = self.run.blueprints_pace or next(
            (e.pace for e in self.run.extraction_ids.sudo().sorted("sequence", reverse=True) if e.pace), None)
        if limiter is not None and pace:
            limiter.restore(pace)

    def staged(self):
        """``{source object: callable giving its staged blueprint rows}`` for every
        object the run read to its end (the blueprints need not read those again)."""
        run = self.run
        cr = run.env.cr
        read = run.extraction_ids.sudo().filtered(lambda e: e.state == "done").mapped("source_object")

        def rows(name):
            def each():
                last = 0
                while True:
                    cr.execute("SELECT position, payload FROM flitstack_run_record WHERE run_id = %s "
                               "AND map_name = %s AND position > %s ORDER BY position LIMIT %s",
                               [run.id, name, last, CHUNK])
                    chunk = cr.fetchall()
                    if not chunk:
                        return
                    last = chunk[-1][0]
                    for _position, payload in chunk:
                        yield payload
            return each

        return {obj: rows(BLUEPRINT_ROWS % obj) for obj in read}

    def zip(self):
        """The run's blueprints as zip bytes, or None when it has none."""
        data = self.run.sudo().blueprints_zip
        return base64.b64decode(data) if data else None
