"""Map specifications, default packs, proposal and application of maps."""
from .apply import apply, apply_object_map, get_path, matches_filter  # noqa: F401
from .spec import (  # noqa: F401
    CustomField, FieldRow, LookupRow, MapSpec, ObjectMap, ValueMap, available_packs, load_pack,
)
from .propose import FieldProposal, ObjectProposal, Proposal, propose_map  # noqa: F401
from .target_schema import FieldSpec, TargetSchema  # noqa: F401
from .validate import Finding, preflight, spec_problems, validate_spec  # noqa: F401
