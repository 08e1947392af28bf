"""A run's blueprints: what its source holds that Odoo cannot take as data.

1. At the end of a full run, :meth:`RunBlueprints.attach` reads the source's
   blueprint kinds (flitstack_connectors.blueprints) and keeps them on the run as
   one zip archive (``blueprints_zip``: a JSON document per kind, its JSON Schema,
   ``index.json``) with the index in ``blueprints_summary``; a new read replaces
   the previous one. The archive lives in the run's own table, not as
   ir.attachment rows, so the attachments a run migrates are all the ones it adds.
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

from flitstack_connectors.blueprints import read_blueprints, write_zip
from flitstack_connectors.errors import FlitstackError

from .source_factory import make_source

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
            try:
                blueprints = read_blueprints(source)
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

    def zip(self):
        """The run's blueprints as zip bytes, or None when it has none."""
        data = self.run.sudo().blueprints_zip
        return base64.b64decode(data) if data else None
