"""The history of an emulated Clio account: calendar entries, tasks, communications, notes.

Shapes follow the schemas of Clio's public v4 API description (CalendarEntry,
Task, Communication, Note and the nested Attendee, Participant, User and Matter
resources), read through ``/api/v4/<resource>.json`` like every other list
endpoint of the emulator:

- ``calendar_entries``: ``summary``, ``description``, ``location``, ``start_at``
  and ``end_at`` (ISO-8601 timestamps), ``all_day``, the ``matter`` it belongs
  to (most entries), and ``attendees`` of type ``Calendar`` (a firm user's
  calendar, with the user's email) and ``Contact`` (with the contact's primary
  email address): "If the Attendee is a User, this is the User's email. If the
  Attendee is a contact, this is the Contact's primary email address."  A
  quarter of the entries lie in the future, where an invitation could still
  reach someone.  The list endpoint documents no ``order`` parameter.
- ``tasks``: ``status`` ``pending``, ``in_progress``, ``in_review`` or
  ``complete`` (``completed_at`` set for complete ones), ``priority``,
  ``due_at`` (a date; some tasks have none), the ``assignee`` (a Participant of
  type ``User``, whose id is the user's), the ``assigner`` (a User) and the
  ``matter``.  ``description_text_type`` says whether ``description`` is
  ``plain_text`` or ``rich_text`` (HTML with Clio's supported tags).
- ``communications``: ``EmailCommunication`` and ``PhoneCommunication`` with
  ``subject``, ``body``, ``date`` (a date), ``received_at`` (a timestamp), the
  ``user`` who logged it, ``senders`` and ``receivers`` (Participants: the user
  and the client), and the ``matter``; one in six has no matter and belongs to
  its contact alone.
- ``notes``: ``Matter`` and ``Contact`` notes with ``subject``, ``detail`` and
  ``detail_text_type`` (plain or rich text), ``date``, the ``author`` (a User)
  and the ``matter`` or ``contact``.

Everything is a function of ``(seed, index)``.
"""
from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Optional

_HOUR = 3600
_DAY = 86400
#: where future calendar entries start: after any date a test runs on
_FUTURE = datetime(2031, 3, 3, 9, 0, tzinfo=timezone.utc).timestamp()
_SUMMARIES = ["Client meeting", "Court hearing", "Deposition", "Mediation session", "Document signing",
              "Case review", "Call with opposing counsel"]
_LOCATIONS = ["Conference room A", "County courthouse, room 4", "Client's office", "Video call", None]
_TASKS = ["Draft engagement letter", "File motion", "Request medical records", "Review contract",
          "Prepare witness list", "Send retainer invoice", "Calendar filing deadline"]
_SUBJECTS = {"EmailCommunication": ["Documents received", "Next steps", "Signed agreement", "Hearing date"],
             "PhoneCommunication": ["Call about settlement", "Follow-up call", "Intake call", "Voicemail"]}
_NOTES = ["Client prefers email over phone.", "Opposing counsel agreed to extend the deadline.",
          "Reviewed the file; waiting on bank statements.", "Client called to confirm the address change."]
TASK_STATUSES = (("pending", 0.35), ("in_progress", 0.15), ("in_review", 0.05), ("complete", 0.45))


class ClioHistory:
    """Calendar entries, tasks, communications and notes of a :class:`ClioAccount`."""

    RESOURCES = ("calendar_entries", "tasks", "communications", "notes")

    def __init__(self, account: Any, calendar_entries: int = 0, tasks: int = 0, communications: int = 0,
                 notes: int = 0):
        from .clio import _Collection  # the account's id bookkeeping

        self.account = account
        self.calendar_entries = _Collection("calendar_entries", calendar_entries, 8800001, 1)
        self.tasks = _Collection("tasks", tasks, 9900001, 1)
        self.communications = _Collection("communications", communications, 6600001, 1)
        self.notes = _Collection("notes", notes, 5100001, 1)

    # -- helpers --------------------------------------------------------------------
    def _rng(self, kind: str, i: int) -> random.Random:
        return random.Random((self.account.seed * 9_000_011 + i) * 13 + sum(map(ord, kind)))

    def _matter(self, i: int) -> Optional[dict[str, Any]]:
        acc = self.account
        if not acc.matters.count:
            return None
        return acc.record("matters", acc.matters.ids[i % acc.matters.count])

    def _user(self, rng: random.Random) -> Optional[dict[str, Any]]:
        acc = self.account
        return acc._user(rng.randrange(acc.users.count)) if acc.users.count else None

    def _client(self, matter: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not matter or not matter.get("client"):
            return None
        return self.account.record("contacts", matter["client"]["id"])

    def _when(self, i: int, resource: str) -> float:
        """A moment in the life of the matter of item ``i``, during office hours."""
        acc = self.account
        mi = i % max(1, acc.matters.count)
        opened = acc.matters.created_ts(mi) if acc.matters.count else _FUTURE - 400 * _DAY
        day = opened - opened % _DAY + (1 + i // max(1, acc.matters.count)) * 4 * _DAY
        return day + (9 + self._rng(resource + "h", i).randrange(8)) * _HOUR + 15 * 60 * (i % 4)

    @staticmethod
    def _matter_ref(matter: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not matter:
            return None
        return {"id": matter["id"], "display_number": matter["display_number"], "description": matter["description"],
                "status": matter["status"], "client_id": matter.get("client_id")}

    @staticmethod
    def _user_ref(user: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if not user:
            return None
        return {"id": user["id"], "name": user["name"], "email": user["email"], "enabled": user["enabled"],
                "first_name": user["first_name"], "last_name": user["last_name"]}

    @staticmethod
    def _participant(record: dict[str, Any], kind: str) -> dict[str, Any]:
        """A Participant: a firm user (type User) or a contact (type Person or Company)."""
        return {"id": record["id"], "type": kind, "name": record["name"], "identifier": record["name"],
                "secondary_identifier": None, "enabled": record.get("enabled") if kind == "User" else None,
                "initials": "".join(p[0] for p in record["name"].split()[:2])}

    # -- builders -------------------------------------------------------------------
    def calendar_entry(self, i: int) -> dict[str, Any]:
        rng = self._rng("calendar", i)
        matter = self._matter(i) if i % 8 != 7 else None
        owner = self._user(rng)
        client = self._client(matter)
        all_day = i % 5 == 4
        start = _FUTURE + i * _DAY if i % 4 == 3 else self._when(i, "calendar")
        if all_day:
            start -= start % _DAY
            end = start + _DAY
        else:
            end = start + rng.choice((30, 60, 90, 120)) * 60
        attendees = []
        if owner:
            attendees.append({"id": 1000 + owner["id"] % 1000, "type": "Calendar", "name": owner["name"],
                              "enabled": owner["enabled"], "email": owner["email"]})
        if client:
            attendees.append({"id": client["id"], "type": "Contact", "name": client["name"], "enabled": None,
                              "email": client["primary_email_address"]})
        summary = rng.choice(_SUMMARIES)
        return {
            # CalendarEntry is the one schema of these whose id is a string
            "id": str(self.calendar_entries.ids[i]), "summary": summary,
            "description": f"{summary} for matter {matter['display_number']}." if matter else f"{summary}.",
            "location": rng.choice(_LOCATIONS), "start_at": _iso(start), "end_at": _iso(end), "all_day": all_day,
            "recurrence_rule": None, "parent_calendar_entry_id": None, "court_rule": False, "permission": "owner",
            "calendar_owner_id": 1000 + owner["id"] % 1000 if owner else None,
            "start_at_time_zone": "America/Los_Angeles", "time_entries_count": 0,
            "created_at": _iso(min(start, self._when(i, "calendar")) - 2 * _DAY),
            "matter": self._matter_ref(matter),
            "calendar_owner": ({"id": 1000 + owner["id"] % 1000, "name": owner["name"], "type": "UserCalendar",
                                "permission": "owner", "visible": True} if owner else None),
            "attendees": attendees,
        }

    def task_status(self, i: int) -> str:
        roll, edge = self._rng("status", i).random(), 0.0
        for status, weight in TASK_STATUSES:
            edge += weight
            if roll < edge:
                return status
        return TASK_STATUSES[-1][0]

    def task(self, i: int) -> dict[str, Any]:
        rng = self._rng("task", i)
        matter = self._matter(i)
        assignee, assigner = self._user(rng), self._user(rng)
        created = self._when(i, "task")
        status = self.task_status(i)
        rich = i % 3 == 1
        name = rng.choice(_TASKS)
        text = f"{name} before the next hearing.\nCheck the file first."
        description = (f"<p>{name} <strong>before</strong> the next hearing.</p><ul><li>Check the file first.</li></ul>"
                       if rich else text)
        due = created + rng.randrange(3, 30) * _DAY if i % 6 != 5 else None
        return {
            "id": self.tasks.ids[i], "name": name, "status": status, "description": description,
            "description_text_type": "rich_text" if rich else "plain_text",
            "priority": rng.choice(("High", "Normal", "Normal", "Low")),
            "due_at": _day(due) if due else None, "permission": "public",
            "completed_at": _iso(created + rng.randrange(1, 20) * _DAY + 2 * _HOUR) if status == "complete" else None,
            "notify_completion": False, "statute_of_limitations": False, "time_estimated": None,
            "created_at": _iso(created), "time_entries_count": 0,
            "task_type": None, "assigner": self._user_ref(assigner),
            "assignee": self._participant(assignee, "User") if assignee else None,
            "matter": self._matter_ref(matter),
        }

    def communication(self, i: int) -> dict[str, Any]:
        rng = self._rng("communication", i)
        kind = "EmailCommunication" if i % 3 != 2 else "PhoneCommunication"
        matter = self._matter(i)
        client = self._client(matter)
        if i % 6 == 5:
            matter = None  # logged on the contact alone
        user = self._user(rng)
        when = self._when(i, "communication")
        people = [self._participant(user, "User")] if user else []
        contact = [self._participant(client, client["type"])] if client else []
        inbound = i % 2 == 0
        subject = rng.choice(_SUBJECTS[kind])
        body = ("Dear client,\nplease find the documents attached.\nKind regards" if kind == "EmailCommunication"
                else "Discussed the settlement offer; client will decide by Friday.")
        return {
            "id": self.communications.ids[i], "subject": subject, "body": body, "type": kind, "date": _day(when),
            "received_at": _iso(when), "time_entries_count": 0, "created_at": _iso(when + 600),
            "user": self._user_ref(user), "matter": self._matter_ref(matter),
            "senders": contact if inbound else people, "receivers": people if inbound else contact,
        }

    def note(self, i: int) -> dict[str, Any]:
        rng = self._rng("note", i)
        matter = self._matter(i)
        contact_note = i % 3 == 2
        client = self._client(matter) if contact_note else None
        if contact_note and client is None:
            contact_note = False
        author = self._user(rng)
        written = self._when(i, "note")
        rich = i % 4 == 1
        text = rng.choice(_NOTES)
        detail = f"<p>{text}</p><p><em>Follow up</em> next week.</p>" if rich else f"{text}\nFollow up next week."
        return {
            "id": self.notes.ids[i], "type": "Contact" if contact_note else "Matter",
            "subject": text.split(";")[0].split(".")[0][:40], "detail": detail,
            "detail_text_type": "rich_text" if rich else "plain_text", "date": _day(written),
            "created_at": _iso(written), "time_entries_count": 0,
            "matter": None if contact_note else self._matter_ref(matter),
            "contact": ({"id": client["id"], "name": client["name"], "type": client["type"],
                         "primary_email_address": client["primary_email_address"]} if contact_note else None),
            "author": self._user_ref(author),
        }

    # -- dispatch -------------------------------------------------------------------
    def record(self, resource: str, record_id: int) -> dict[str, Any]:
        col = getattr(self, resource)
        builder = {"calendar_entries": self.calendar_entry, "tasks": self.task,
                   "communications": self.communication, "notes": self.note}[resource]
        return builder(col.index(record_id))


def _iso(ts: float) -> str:
    from .clio import _iso as iso
    return iso(ts)


def _day(ts: float) -> str:
    from .clio import _day as day
    return day(ts)
