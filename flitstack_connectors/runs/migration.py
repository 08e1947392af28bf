"""A Clio -> Dynamics 365 migration as the ``flitstack migrate`` command runs it.

:class:`DynamicsMigration` holds the open parts (source, Dataverse client,
state store) and runs, in order, what must pass before any record moves:

1. **map**: the default pack (or a map file), completed for the account
   (:func:`~flitstack_connectors.destinations.dynamics.propose.complete_map`),
   stored as a map version; a run needs it confirmed (by whom, when);
2. **validate**: the map against the Dynamics 365 snapshot
   (:func:`~flitstack_connectors.mapping.validate_spec`) and pre-flight
   findings on a sample of the source;
3. **staff**: Clio users to system users by email; flagged users need a
   fallback owner;
4. **provision**: custom columns, the alternate key on the Clio id column, publish;
5. **run**: :class:`~.runner.DynamicsRun` (read, apply, plan, load, audit, reconcile).
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any, Optional

from ..destinations.dynamics.client import DataverseClient
from ..destinations.dynamics.metadata import Provisioner
from ..destinations.dynamics.propose import complete_map, key_column
from ..destinations.dynamics.tables import target_schema
from ..errors import ConfigurationError, MappingError
from ..mapping import load_pack, preflight, validate_spec
from ..mapping.spec import MapSpec
from ..sources.base import Source
from .runner import DynamicsRun, Progress
from .staff import StaffResolution, require_fallback, resolve_staff
from .store import StateStore

SCHEMA = "dynamics365_sales"
PACK = "clio_dynamics"


class MapNotConfirmedError(ConfigurationError):
    """The map a run would use has not been confirmed by an administrator."""


class PreflightError(ConfigurationError):
    """Pre-flight found errors the admin must settle before the run."""


@dataclass
class Prepared:
    spec: MapSpec
    map_version: dict[str, Any]
    staff: StaffResolution
    findings: list[dict[str, Any]]


class DynamicsMigration:
    def __init__(self, store: StateStore, source: Source, client: DataverseClient, *, source_url: str,
                 tenant: Optional[str] = None, client_id: Optional[str] = None, prefix: str = "new_",
                 solution: Optional[str] = None):
        self.store = store
        self.source = source
        self.client = client
        self.prefix = prefix
        self.solution = solution
        self.key_column = key_column(prefix)
        self._provisioned: Optional[tuple[str, dict[str, Any]]] = None
        self._max_upload: Optional[tuple[int | None]] = None
        self.connection_id = store.connection(source_kind=source.kind, source_url=source_url,
                                              destination="dynamics", destination_url=client.environment_url,
                                              tenant=tenant, client_id=client_id)

    # -- 1. the map ------------------------------------------------------------------
    def map_for_account(self, base: Optional[MapSpec] = None) -> tuple[MapSpec, list]:
        if base is not None and base.destination != "dynamics":
            raise MappingError("The map file is for Odoo (destination 'odoo'): start from the Dynamics 365 map, "
                               "flitstack map show --dest dynamics, or set destination to 'dynamics'")
        objects = self.source.discover()
        areas = [r.data.get("name") for r in self.source.read("practice_areas")] \
            if any(o.name == "practice_areas" for o in objects) else []
        spec = complete_map(base or load_pack(PACK), objects, areas, prefix=self.prefix)
        return spec, objects

    def map_version(self, spec: MapSpec) -> dict[str, Any]:
        return self.store.map_version(self.connection_id, spec)

    def confirm(self, spec: MapSpec, by: Optional[str] = None) -> dict[str, Any]:
        version = self.map_version(spec)
        return self.store.confirm_map(version["id"], by or getpass.getuser())

    # -- 2-3. checks -----------------------------------------------------------------
    def check(self, spec: MapSpec, objects: list, fallback_owner: Optional[str]) -> tuple[StaffResolution, list]:
        schema = target_schema(self.prefix)
        validate_spec(spec, schema)
        samples = self.source.sample((o.name for o in objects if o.name in {om.source_object for om in spec.objects}),
                                     100)
        findings = [{"level": f.level, "map": f.map_name, "message": f.message, "target": f.target}
                    for f in preflight(spec, schema, samples, objects)]
        users = list(self.source.read("users"))
        systemusers = list(self.client.iter_rows(
            "systemusers", select=["systemuserid", "fullname", "internalemailaddress", "isdisabled"],
            table="systemuser"))
        staff = resolve_staff(users, systemusers, fallback_owner)
        if any(om.file and om.enabled for om in spec.objects):
            # the environment's attachment limit is a setting, read with the other checks (once per migration)
            self.max_upload_bytes()
        return staff, findings

    def prepare(self, base: Optional[MapSpec], *, fallback_owner: Optional[str], confirm: bool = False,
                confirmed_by: Optional[str] = None) -> Prepared:
        """Steps 1-3; raises when the map is not confirmed, pre-flight has
        errors, or flagged staff have no fallback owner."""
        spec, objects = self.map_for_account(base)
        version = self.map_version(spec)
        if confirm and not version["confirmed_at"]:
            version = self.store.confirm_map(version["id"], confirmed_by or getpass.getuser())
        staff, findings = self.check(spec, objects, fallback_owner)
        return Prepared(spec=spec, map_version=version, staff=staff, findings=findings)

    def gate(self, prepared: Prepared) -> None:
        if not prepared.map_version["confirmed_at"]:
            raise MapNotConfirmedError(
                f"Map version {prepared.map_version['version']} for this connection is not confirmed: review it "
                f"(flitstack map show ...) and confirm it with flitstack map confirm ..., or start the migration "
                f"with --confirm after the review")
        errors = [f for f in prepared.findings if f["level"] == "error"]
        if errors:
            raise PreflightError(f"Pre-flight found {len(errors)} error{'s' if len(errors) != 1 else ''}:\n"
                                 + "\n".join(f"- {f['message']}" for f in errors))
        require_fallback(prepared.staff)

    # -- 4-5. provision and run ---------------------------------------------------------
    def provision(self, spec: MapSpec) -> dict[str, Any]:
        """Step 4, once per map version and migration: a second call (a run after an explicit
        provisioning, a re-run in the same process) sends no metadata request again."""
        digest = spec.model_dump_json()
        if self._provisioned is None or self._provisioned[0] != digest:
            report = Provisioner(self.client, key_column=self.key_column, solution=self.solution).provision(spec)
            self._provisioned = (digest, report.to_dict())
            return self._provisioned[1]
        return {k: [] for k in self._provisioned[1]}

    def max_upload_bytes(self) -> Optional[int]:
        """The environment's limit on a note's attachment (``organization.maxuploadfilesize``,
        https://learn.microsoft.com/power-apps/developer/data-platform/attachment-annotation-files)."""
        if self._max_upload is None:
            rows = list(self.client.iter_rows("organizations", select=["organizationid", "maxuploadfilesize"],
                                              table="organization"))
            value = rows[0].get("maxuploadfilesize") if rows else None
            self._max_upload = (int(value) if value is not None else None,)
        return self._max_upload[0]

    def run(self, prepared: Prepared, *, mode: str = "full", parallel: int = 4, progress: Optional[Progress] = None,
            after_batch=None, sample_size: int = 25, max_file_bytes: Optional[int] = None,
            batch_size: int = 500) -> dict[str, Any]:
        if not 1 <= batch_size <= 500:
            raise ConfigurationError("--batch-size must be between 1 and 500 rows per request")
        if max_file_bytes is not None and max_file_bytes < 1:
            raise ConfigurationError("--max-file-size must be a positive number of bytes")
        self.gate(prepared)
        provisioned = self.provision(prepared.spec)
        if any(om.file and om.enabled for om in prepared.spec.objects):
            allowed = self.max_upload_bytes()
            if max_file_bytes is None or (allowed is not None and max_file_bytes > allowed):
                max_file_bytes = allowed if max_file_bytes is None else min(max_file_bytes, allowed)
        run = DynamicsRun(self.store, self.source, self.client, prepared.spec, connection_id=self.connection_id,
                          map_version_id=prepared.map_version["id"], staff=prepared.staff,
                          key_column=self.key_column, mode=mode, parallel=parallel, progress=progress,
                          after_batch=after_batch, sample_size=sample_size, max_file_bytes=max_file_bytes,
                          batch_size=batch_size)
        report = run.execute()
        report["map_version"] = prepared.map_version["version"]
        report["provisioned"] = provisioned
        report["findings"] = prepared.findings
        if mode == "sample":
            from .sample import field_diff
            try:
                report["field_diff"] = field_diff(self.store, self.client, prepared.spec, run.run_id,
                                                  self.key_column)
            finally:
                self.store.purge_staging(run.run_id)
        return report
