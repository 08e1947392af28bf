"""Shared fixtures: emulated vendor servers on 127.0.0.1, stopped after each test.

Add one section per source; keep fixtures small and name them after what
they start.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from flitstack_connectors.emulators.cliniko import ClinikoEmulator
from flitstack_connectors.emulators.clio import ClioEmulator


def _started(emulator_class, **defaults):
    """A factory fixture body: ``start(**settings)`` starts an emulator of
    ``emulator_class`` (``defaults`` unless a test says otherwise); every one
    is stopped at teardown."""
    started: list = []

    def start(**settings: Any):
        emulator = emulator_class(**{**defaults, **settings}).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


# -- Clio ----------------------------------------------------------------------

@pytest.fixture
def clio_factory() -> Iterator[Callable[..., ClioEmulator]]:
    """``clio_factory(contacts=450, rate_limit=5, rate_window=1.0)``: a started
    Clio emulator with those settings; every one is stopped at teardown."""
    yield from _started(ClioEmulator)


# -- Cliniko ---------------------------------------------------------------------

@pytest.fixture
def cliniko_factory() -> Iterator[Callable[..., ClinikoEmulator]]:
    """``cliniko_factory(patients=90, ...)``: a started Cliniko emulator; the
    limit is high unless a test asks for Cliniko's own."""
    yield from _started(ClinikoEmulator, rate_limit=100_000)


@pytest.fixture
def clio(clio_factory) -> ClioEmulator:
    """A small Clio account (450 contacts, 120 matters) with a limit high
    enough that ordinary tests never meet it."""
    return clio_factory(contacts=450, matters=120, rate_limit=10_000, rate_window=60.0)


class RecordingSleep:
    """A ``sleep`` stand-in that records the waits asked for and returns at
    once (``real=True`` sleeps for real as well)."""

    def __init__(self, real: bool = False):
        self.calls: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            import time
            time.sleep(seconds)


@pytest.fixture
def recording_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def recording_real_sleep() -> RecordingSleep:
    """Records the waits and really sleeps (for tests against real time windows)."""
    return RecordingSleep(real=True)


# -- Dataverse (Dynamics 365 Sales) -------------------------------------------------

@pytest.fixture
def dataverse_factory():
    """``dataverse_factory(rate_limit=5, rate_window=1.0, users=[...])``: a started
    emulated Dataverse environment with its https identity tenant; every one is
    stopped at teardown."""
    from flitstack_connectors.emulators.dataverse import DataverseEmulator

    yield from _started(DataverseEmulator, users=[
        {"fullname": "Ann Lee", "internalemailaddress": "ann.lee@firm.example", "isdisabled": False},
        {"fullname": "Bo Chan", "internalemailaddress": "bo.chan@firm.example", "isdisabled": True},
    ])
