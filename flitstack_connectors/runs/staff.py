"""Staff: Clio users resolved to Dynamics 365 system users by email.

Users are never created.  A Clio user whose email has no system user
(``internalemailaddress``, compared case-insensitively), or whose system user
is disabled, is flagged before the run; such users need a fallback owner
(an enabled system user, given by email), noted on each audit line it owns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ..errors import ConfigurationError
from ..records import SourceRecord


class StaffUnresolvedError(ConfigurationError):
    """Clio users have no enabled system user and no fallback owner was given."""


@dataclass
class StaffResolution:
    #: Clio user id -> systemuserid
    resolved: dict[str, str] = field(default_factory=dict)
    #: Clio user ids with no system user of their email
    unmatched: list[str] = field(default_factory=list)
    #: Clio user ids whose system user is disabled
    disabled: list[str] = field(default_factory=list)
    fallback: Optional[str] = None
    fallback_email: Optional[str] = None
    #: casefolded email -> Clio user id, for records that name a user by email (calendar owners)
    emails: dict[str, str] = field(default_factory=dict)

    @property
    def flagged(self) -> list[str]:
        return sorted(self.unmatched + self.disabled, key=lambda s: (len(s), s))

    def owner(self, clio_user_id: str) -> tuple[Optional[str], Optional[str]]:
        guid = self.resolved.get(clio_user_id)
        if guid:
            return guid, None
        if self.fallback:
            return self.fallback, f"owner: fallback owner for Clio user {clio_user_id}"
        return None, None

    def owner_by_email(self, email: str) -> tuple[Optional[str], Optional[str]]:
        """The owner for a Clio user named by email; a non-user email gets the fallback owner."""
        clio_id = self.emails.get(str(email or "").strip().casefold())
        if clio_id is not None:
            return self.owner(clio_id)
        if self.fallback:
            return self.fallback, "owner: fallback owner for an owner who is not a Clio user"
        return None, None

    def to_dict(self) -> dict[str, Any]:
        return {"resolved": len(self.resolved), "unmatched": list(self.unmatched), "disabled": list(self.disabled),
                "fallback_owner": self.fallback_email}


def resolve_staff(users: Iterable[SourceRecord], systemusers: Iterable[dict[str, Any]],
                  fallback_email: Optional[str] = None) -> StaffResolution:
    by_email: dict[str, dict[str, Any]] = {}
    for su in systemusers:
        email = (su.get("internalemailaddress") or "").strip().casefold()
        if email and (email not in by_email or by_email[email].get("isdisabled")):
            by_email[email] = su
    out = StaffResolution()
    for user in users:
        email = str(user.data.get("email") or "").strip().casefold()
        su = by_email.get(email) if email else None
        if email:
            out.emails.setdefault(email, user.source_id)
        if su is None:
            out.unmatched.append(user.source_id)
        elif su.get("isdisabled"):
            out.disabled.append(user.source_id)
        else:
            out.resolved[user.source_id] = str(su["systemuserid"])
    if fallback_email:
        su = by_email.get(fallback_email.strip().casefold())
        if su is None or su.get("isdisabled"):
            raise StaffUnresolvedError(
                "--fallback-owner names no enabled Dynamics 365 user: give the primary email of an enabled system "
                "user (Power Platform admin center > Users)")
        out.fallback, out.fallback_email = str(su["systemuserid"]), fallback_email
    return out


def require_fallback(staff: StaffResolution) -> None:
    """Stop the run when flagged users have no fallback owner."""
    if staff.flagged and not staff.fallback:
        parts = []
        if staff.unmatched:
            parts.append(f"{len(staff.unmatched)} Clio user{'s' if len(staff.unmatched) != 1 else ''} "
                         f"({', '.join(staff.unmatched)}) {'have' if len(staff.unmatched) != 1 else 'has'} no "
                         f"Dynamics 365 user with the same email")
        if staff.disabled:
            parts.append(f"{len(staff.disabled)} ({', '.join(staff.disabled)}) match a disabled user")
        raise StaffUnresolvedError(
            "; ".join(parts) + ": create or enable their users in Dynamics 365, or give --fallback-owner EMAIL "
            "(an enabled user who owns their records instead)")
