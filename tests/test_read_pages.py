"""Reads that resume: pages with the cursor after each, and a pace carried between processes."""
from flitstack_connectors.emulators.exports import write_clinic_export
from flitstack_connectors.http import RateLimiter
from flitstack_connectors.sources.clinic_csv import ClinicCsvSource
from flitstack_connectors.sources.clio import ClioSource


def test_clio_pages_resume_from_the_next_link_without_reading_a_page_twice(clio_factory):
    clio = clio_factory(contacts=450, matters=0)
    token = clio.issue_token()
    source = ClioSource(token, base_url=clio.base_url)
    pages = source.read_pages("contacts")
    first, cursor = next(pages)
    pages.close()
    assert len(first) == 200 and "page_token" in cursor["next"]
    clio.clear_log()
    # a new process (a new source) carries on from the checkpoint
    resumed = list(ClioSource(token, base_url=clio.base_url).read_pages("contacts", cursor=cursor))
    ids = [r.source_id for r in first] + [r.source_id for page, _c in resumed for r in page]
    assert ids == [str(i) for i in clio.ids("contacts")]
    assert [len(page) for page, _c in resumed] == [200, 50]
    assert resumed[-1][1] is None
    assert len([r for r in clio.request_log if r.path.endswith("/contacts.json")]) == 2
    # the picklist labels the first page looked up travel with the cursor
    assert "picklist_labels" in cursor
    assert not [r for r in clio.request_log if "custom_fields" in r.path]


def test_file_pages_resume_at_their_offset(tmp_path):
    export = write_clinic_export(tmp_path / "export", patients=25, appointments=40)
    source = ClinicCsvSource(export["path"])
    pages = list(source.read_pages("patients", page_size=10))
    assert [(len(p), c) for p, c in pages] == [(10, {"offset": 10}), (10, {"offset": 20}), (5, None)]
    resumed = list(source.read_pages("patients", cursor={"offset": 20}, page_size=10))
    assert [r.source_id for p, _c in resumed for r in p] == [r.source_id for r in pages[2][0]]


def test_a_restored_pace_holds_the_next_process_back():
    class Clock:
        def __init__(self, now):
            self.now = now
            self.waits = []

        def sleep(self, seconds):
            self.waits.append(seconds)
            self.now += seconds

    wall = 5000.0
    one = Clock(100.0)
    first = RateLimiter(10, 60.0, clock=lambda: one.now, wall_clock=lambda: wall, sleep=one.sleep)
    for _ in range(10):
        first.acquire()
    state = first.snapshot()
    assert state["tokens"] < 1e-6 and one.waits == []
    # 3 s later, in another process, half a token came back: the next request waits the other 3 s
    two = Clock(7.0)
    later = RateLimiter(10, 60.0, clock=lambda: two.now, wall_clock=lambda: wall + 3.0 + (two.now - 7.0),
                        sleep=two.sleep)
    later.restore(state)
    later.acquire()
    assert round(sum(two.waits), 6) == 3.0
