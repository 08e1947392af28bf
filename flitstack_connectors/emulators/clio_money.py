"""The money of an emulated Clio account: activities, bills, payments, trust.

Shapes follow the schemas of Clio's public v4 API description (Activity,
Bill, Allocation, BankAccount, BankTransaction, ActivityRate, BillableMatter,
and Contact.account_balances), read through ``/api/v4/<resource>.json`` like
every other list endpoint of the emulator:

- ``activities``: TimeEntry and ExpenseEntry. From API 4.0.4 on, ``quantity`` of
  a time entry is in seconds (https://docs.developers.clio.com/api-reference/,
  minor versions: "4.0.4 Update quantity field to return values in seconds rather
  than hours for Activities"); ``quantity_in_hours`` gives hours. ``total`` is
  hours x ``price`` for time, quantity x price for expenses. A time entry's
  ``price`` is the rate Clio's hierarchy gives the user on the matter (the
  matter's custom rate, the client's rate, the user's default rate:
  ClioTemplates.hourly_rate). An activity on a bill names it in ``bill``; the
  others are unbilled work.
- ``bills``: states ``draft``, ``awaiting_approval``, ``awaiting_payment``,
  ``paid``, ``void`` (the schema's enum, ``deleted`` aside); ``total`` is the
  sum of the billed activities, less a money discount, plus tax at ``tax_rate``
  percent on time entries (each line's tax rounded half up to the cent);
  ``paid`` and ``balance`` follow the payments.
- ``allocations``: payments applied to bills (``amount``, ``date``, ``bill``).
- ``bank_accounts``: one operating and one trust account; ``bank_transactions``
  on the trust account: receipts (``funds_in``) and disbursements
  (``funds_out``) per client; a contact's trust balance is in its
  ``account_balances`` (type ``Trust``).
- ``activity_rates``: each user's hourly rate, then the client rates of
  clio_templates (``contact_id`` set).
- ``billable_matters``: matters with unbilled work, with ``unbilled_hours`` and
  ``unbilled_amount``.

Our own assumptions, where Clio's pages say nothing: how a bill's tax and
discount are computed and rounded (above), which activities a bill holds and
which bills are paid; the amounts themselves are consistent the way Clio's
schemas relate them.

Everything is a function of ``(seed, index)``; bills paid later through
:meth:`ClioLedger.pay` keep their new state and payment.
"""
from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Optional

OPERATING_ACCOUNT_ID = 6001
TRUST_ACCOUNT_ID = 6002
BILL_STATES = (("draft", 0.15), ("awaiting_approval", 0.10), ("awaiting_payment", 0.35), ("paid", 0.30),
               ("void", 0.10))
_TIME_NOTES = ["Drafted correspondence", "Telephone call with client", "Reviewed documents", "Court appearance",
               "Research on case law", "Prepared filing", "Meeting with opposing counsel"]
_EXPENSES = [("Filing fee", 150.0), ("Courier", 12.5), ("Photocopies", 7.25), ("Expert report", 89.99),
             ("Travel", 35.0)]
_DAY = 86400


def cents(value: float) -> float:
    """``value`` rounded half up to the cent (as money is shown)."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class ClioLedger:
    """Activities, bills, payments and trust of a :class:`ClioAccount`."""

    def __init__(self, account: Any, activities: int, bills: int, trust_transactions: int):
        from .clio import _Collection  # the account's id bookkeeping

        self.account = account
        matters = account.matters.count
        if bills > matters:
            raise ValueError(f"an account of {matters} matters holds at most {matters} bills (one per matter)")
        self.bills = _Collection("bills", bills, 2200001, 1)
        self.activities = _Collection("activities", activities, 3300001, 1)
        self.bank_transactions = _Collection("bank_transactions", trust_transactions, 5500001, 1)
        self.bank_accounts = _Collection("bank_accounts", 2, OPERATING_ACCOUNT_ID, 1)
        # each user's rate, then the client rates (clio_templates)
        self.activity_rates = _Collection("activity_rates", account.users.count + account.templates.client_rate_count,
                                          7700001, 1)
        #: bill index -> extra state after :meth:`pay` ({"paid_at": epoch})
        self.paid_later: dict[int, float] = {}
        self._bill_cache: dict[int, dict[str, Any]] = {}
        self._unbilled: dict[int, list[int]] = {}
        for j in range(activities):
            if self.activity_bill_index(j) is None:
                self._unbilled.setdefault(j % matters, []).append(j)
        self.billable_matters = _Collection("billable_matters", 0, 0, 1)
        self.billable_matters.set_ids([account.matters.ids[mi] for mi in sorted(self._unbilled)])
        self.allocations = _Collection("allocations", 0, 0, 1)
        self._allocation_ids()
        self._trust_balances = self._trust()

    # -- structure ------------------------------------------------------------------
    def _rng(self, kind: str, i: int) -> random.Random:
        return random.Random((self.account.seed * 7_000_003 + i) * 17 + sum(map(ord, kind)))

    def bill_matter_index(self, k: int) -> int:
        return k * self.account.matters.count // max(1, self.bills.count)

    def matter_bill_index(self, mi: int) -> Optional[int]:
        """The bill of matter ``mi``, or None."""
        b, m = self.bills.count, self.account.matters.count
        if not b:
            return None
        k = -(-mi * b // m)  # ceil(mi * b / m)
        return k if k < b and self.bill_matter_index(k) == mi else None

    def activity_bill_index(self, j: int) -> Optional[int]:
        mi = j % self.account.matters.count
        k = self.matter_bill_index(mi)
        if k is None:
            return None
        first_of_matter = j < self.account.matters.count
        return k if first_of_matter or self._rng("billed", j).random() < 0.7 else None

    def bill_activities(self, k: int) -> list[int]:
        mi = self.bill_matter_index(k)
        step = self.account.matters.count
        return [j for j in range(mi, self.activities.count, step) if self.activity_bill_index(j) == k]

    def bill_state(self, k: int) -> str:
        if k in self.paid_later:
            return "paid"
        roll, edge = self._rng("state", k).random(), 0.0
        for state, weight in BILL_STATES:
            edge += weight
            if roll < edge:
                return state
        return BILL_STATES[-1][0]

    def _first_payment(self, k: int) -> float:
        """What was paid on bill ``k`` before any :meth:`pay` (0 when nothing)."""
        state = self.bill_state(k) if k not in self.paid_later else self._original_state(k)
        total = self._amounts(k)["total"]
        if state == "paid":
            return total
        if state == "awaiting_payment" and self._rng("partial", k).random() < 0.5:
            return cents(total * 0.4)
        return 0.0

    def _original_state(self, k: int) -> str:
        paid_at = self.paid_later.pop(k)
        try:
            return self.bill_state(k)
        finally:
            self.paid_later[k] = paid_at

    def _allocation_ids(self) -> None:
        ids = []
        for k in range(self.bills.count):
            if self._first_payment(k):
                ids.append(4400001 + 2 * k)
            if k in self.paid_later:
                ids.append(4400002 + 2 * k)
        self.allocations.set_ids(ids)

    # -- amounts -------------------------------------------------------------------
    def activity(self, j: int) -> dict[str, Any]:
        acc = self.account
        rng = self._rng("activity", j)
        mi = j % acc.matters.count
        matter = acc.record("matters", acc.matters.ids[mi])
        user = acc._user(rng.randrange(acc.users.count)) if acc.users.count else None
        opened = acc.matters.created_ts(mi)
        ts = opened + (1 + j // acc.matters.count) * 3 * _DAY
        rec: dict[str, Any] = {
            "id": self.activities.ids[j], "date": _day(ts), "created_at": _iso(ts + 3600),
            "flat_rate": False, "non_billable": False, "non_billable_total": 0.0, "no_charge": False,
            "contingency_fee": False, "tax_setting": "no_tax", "quantity_redacted": False,
            "matter": {"id": matter["id"], "display_number": matter["display_number"]},
            "user": {"id": user["id"], "name": user["name"], "email": user["email"]} if user else None,
        }
        if rng.random() < 0.8:
            tenths = rng.randint(1, 40)
            price = acc.templates.hourly_rate(matter, user)
            rec.update(type="TimeEntry", quantity=float(tenths * 360), quantity_in_hours=tenths / 10,
                       rounded_quantity=float(tenths * 360), rounded_quantity_in_hours=tenths / 10,
                       price=price, total=cents(tenths * price / 10), note=rng.choice(_TIME_NOTES))
        else:
            label, price = rng.choice(_EXPENSES)
            quantity = rng.randint(1, 3)
            rec.update(type="ExpenseEntry", quantity=float(quantity), quantity_in_hours=0.0, price=price,
                       total=cents(quantity * price), note=label,
                       expense_category={"id": 8800 + _EXPENSES.index((label, price)), "name": label})
        k = self.activity_bill_index(j)
        rec["bill"] = None
        if k is not None:
            bill = self._bill_head(k)
            rec["bill"] = {"id": bill["id"], "number": bill["number"], "state": self.bill_state(k)}
        rec["billed"] = rec["on_bill"] = k is not None and self.bill_state(k) != "void"
        return rec

    def _bill_head(self, k: int) -> dict[str, Any]:
        return {"id": self.bills.ids[k], "number": f"{k + 1:05d}"}

    def _amounts(self, k: int) -> dict[str, float]:
        if k in self._bill_cache:
            return self._bill_cache[k]
        rng = self._rng("bill", k)
        tax_rate = 5.0 if rng.random() < 0.3 else 0.0
        lines = [self.activity(j) for j in self.bill_activities(k)]
        sub_total = cents(sum(line["total"] for line in lines))
        tax = cents(sum(cents(line["total"] * tax_rate / 100) for line in lines if line["type"] == "TimeEntry"))
        discount = 0.0
        if rng.random() < 0.2 and sub_total > 100:
            discount = 25.0 if sub_total < 500 else 50.0
        out = {"tax_rate": tax_rate, "sub_total": sub_total, "tax": tax, "discount": discount,
               "total": cents(sub_total - discount + tax)}
        self._bill_cache[k] = out
        return out

    def bill(self, k: int) -> dict[str, Any]:
        acc = self.account
        mi = self.bill_matter_index(k)
        matter = acc.record("matters", acc.matters.ids[mi])
        amounts = self._amounts(k)
        state = self.bill_state(k)
        lines = self.bill_activities(k)
        last_work = max((acc.matters.created_ts(mi) + (1 + j // acc.matters.count) * 3 * _DAY for j in lines),
                        default=acc.matters.created_ts(mi))
        issued = last_work + 5 * _DAY
        paid = 0.0 if state in ("draft", "awaiting_approval", "void") else self._first_payment(k)
        paid_at = issued + 20 * _DAY if paid else None
        if k in self.paid_later:
            paid, paid_at = amounts["total"], self.paid_later[k]
        balance = 0.0 if state == "void" else cents(amounts["total"] - paid)
        client = matter.get("client")
        return {
            **self._bill_head(k), "issued_at": _day(issued), "due_at": _day(issued + 30 * _DAY),
            "created_at": _iso(issued - 3600), "subject": f"Legal services, matter {matter['display_number']}",
            "memo": None, "purchase_order": None, "type": "MatterBill", "kind": "revenue_kind", "state": state,
            "tax_rate": amounts["tax_rate"], "secondary_tax_rate": 0.0, "sub_total": amounts["sub_total"],
            "tax_sum": amounts["tax"], "secondary_tax_sum": 0.0, "total_tax": amounts["tax"],
            "total": amounts["total"], "paid": paid, "paid_at": _iso(paid_at) if paid_at else None,
            "balance": balance, "due": balance, "pending": 0.0, "credits_issued": 0.0, "shared": False,
            "discount": ({"rate": amounts["discount"], "type": "money", "note": "Courtesy discount",
                          "early_payment_rate": 0, "early_payment_period": 0} if amounts["discount"] else None),
            "client": ({"id": client["id"], "name": client["name"], "type": client["type"]} if client else None),
            "matters": [{"id": matter["id"], "display_number": matter["display_number"]}],
            "currency": {"id": 1, "code": "USD", "sign": "$"},
        }

    def allocation(self, rid: int) -> dict[str, Any]:
        k, later = divmod(rid - 4400001, 2)
        bill = self.bill(k)
        if later:
            amount = cents(bill["total"] - self._first_payment(k))
            ts = self.paid_later[k]
        else:
            amount = self._first_payment(k)
            ts = _epoch(bill["issued_at"]) + 20 * _DAY
        return {"id": rid, "date": _day(ts), "amount": amount, "interest": False, "voided_at": None,
                "created_at": _iso(ts), "description": None, "has_online_payment": False, "destroyable": True,
                "payment_type": None, "bill": {"id": bill["id"], "number": bill["number"]},
                "contact": {"id": bill["client"]["id"], "name": bill["client"]["name"]} if bill["client"] else None,
                "matter": bill["matters"][0],
                "destination_bank_account": {"id": OPERATING_ACCOUNT_ID, "name": "Operating account",
                                             "type": "Operating"}}

    def _trust(self) -> dict[int, float]:
        balances: dict[int, float] = {}
        for t in range(self.bank_transactions.count):
            tx = self.bank_transaction(t)
            cid = tx["client"]["id"]
            balances[cid] = cents(balances.get(cid, 0.0) + tx["funds_in"] - tx["funds_out"])
        return balances

    def trust_balance(self, contact_id: int) -> Optional[float]:
        return self._trust_balances.get(contact_id)

    def _receipt(self, t: int) -> tuple[int, float]:
        """(contact index, amount) of receipt ``t`` (an even index)."""
        rng = self._rng("trust", t)
        count = self.account.contacts.count
        return (t // 2 * 7919) % max(1, count), cents(rng.choice((500, 1000, 1500, 2500, 5000)) + rng.randrange(100) / 100)

    def bank_transaction(self, t: int) -> dict[str, Any]:
        acc = self.account
        ci, amount = self._receipt(t - t % 2)
        funds_in, funds_out = (amount, 0.0) if t % 2 == 0 else (0.0, cents(amount / 2))
        name, ctype = acc.contact_name(ci)
        ts = _T0() + t * _DAY / 2
        return {"id": self.bank_transactions.ids[t], "type": "BankTransaction",
                "transaction_type": "Deposit" if funds_in else "Withdrawal", "date": _day(ts),
                "created_at": _iso(ts), "bank_account_id": TRUST_ACCOUNT_ID, "source": "manual",
                "confirmation": f"TR-{t + 1:06d}", "amount": cents(funds_in - funds_out), "currency": "USD",
                "currency_id": 1, "description": "Retainer received" if funds_in else "Disbursement to client",
                "exchange_rate": 1.0, "funds_in": funds_in, "funds_out": funds_out,
                "clio_payments_transaction": False, "read_only_confirmation": False,
                "client": {"id": acc.contacts.ids[ci], "name": name, "type": ctype},
                "bank_account": {"id": TRUST_ACCOUNT_ID, "name": "Trust account", "type": "Trust"}}

    def bank_account(self, i: int) -> dict[str, Any]:
        trust = i == 1
        balance = cents(sum(self._trust_balances.values())) if trust else 0.0
        return {"id": self.bank_accounts.ids[i], "name": "Trust account" if trust else "Operating account",
                "type": "Trust" if trust else "Operating", "currency": "USD", "currency_symbol": "$",
                "currency_id": 1.0, "balance": balance, "account_number": f"00{i + 1}-4471",
                "institution": "First Federal Bank", "holder": "Law firm", "default_account": not trust,
                "controlled_account": False, "created_at": _iso(_T0() - 400 * _DAY),
                "bank_transactions_count": self.bank_transactions.count if trust else 0}

    def activity_rate(self, u: int) -> dict[str, Any]:
        if u >= self.account.users.count:
            return {"id": self.activity_rates.ids[u], **self.account.templates.client_rate(u - self.account.users.count)}
        user = self.account._user(u)
        return {"id": self.activity_rates.ids[u], "rate": float(user["rate"]), "flat_rate": False,
                "contact_id": None, "co_counsel_contact_id": None, "created_at": user["created_at"],
                "user": {"id": user["id"], "name": user["name"], "email": user["email"]}, "group": None}

    def billable_matter(self, rid: int) -> dict[str, Any]:
        acc = self.account
        mi = acc.matters.index(rid)
        work = [self.activity(j) for j in self._unbilled.get(mi, [])]
        matter = acc.record("matters", rid)
        client = matter.get("client")
        return {"id": rid, "display_number": matter["display_number"], "currency_code": "USD", "currency_id": 1,
                "unbilled_hours": round(sum(w["quantity_in_hours"] for w in work if w["type"] == "TimeEntry"), 2),
                "unbilled_amount": cents(sum(w["total"] for w in work)), "amount_in_trust": 0.0,
                "client": {"id": client["id"], "name": client["name"]} if client else None}

    # -- changes --------------------------------------------------------------------
    def pay(self, k: int, when: float) -> None:
        """Bill ``k`` is paid in full now: a payment of its balance."""
        if self.bill_state(k) in ("void", "paid"):
            raise ValueError(f"bill {self.bills.ids[k]} is {self.bill_state(k)}: it cannot be paid")
        self.paid_later[k] = when
        self._allocation_ids()

    def payable_bills(self) -> list[int]:
        """Bill ids that can still be paid (awaiting payment)."""
        return [self.bills.ids[k] for k in range(self.bills.count) if self.bill_state(k) == "awaiting_payment"]

    # -- dispatch -------------------------------------------------------------------
    def record(self, resource: str, record_id: int) -> dict[str, Any]:
        col = getattr(self, resource)
        if resource == "allocations":
            return self.allocation(record_id)
        if resource == "billable_matters":
            return self.billable_matter(record_id)
        i = col.index(record_id)
        builder = {"activities": self.activity, "bills": self.bill, "bank_transactions": self.bank_transaction,
                   "bank_accounts": self.bank_account, "activity_rates": self.activity_rate}[resource]
        return builder(i)


def _T0() -> float:
    from .clio import _T0 as t0
    return t0


def _iso(ts: float) -> str:
    from .clio import _iso as iso
    return iso(ts)


def _day(ts: float) -> str:
    from .clio import _day as day
    return day(ts)


def _epoch(day: str) -> float:
    from datetime import date, datetime, timezone
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()
