"""tools/launch_report.py on a synthetic day of launch events, written through the program's
own BinderHub config snippet (tests/launch_events.py), as Fluentd's stdout output and an
Elasticsearch export would hand them over."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from components.releases import events
from tests.launch_events import launch_event, run_snippet
from tools import launch_report

ORIGIN = "binder.ebi.example.org"

#: (hour, minute, second, provider, spec) of the synthetic day, 2026-12-07 (UTC).
DAY = [
    (0, 3, 12, "GitHub", "binder-examples/requirements/HEAD"),
    (1, 15, 59, "GitHub", "binder-examples/requirements/50533eb"),
    (7, 2, 1, "GitHub", "bioexcel/biobb_wf_md_setup/master"),
    (8, 44, 30, "GitHub", "binder-examples/requirements/HEAD"),
    (9, 0, 0, "GitLab", "bioexcel%2Fdemo-notebooks/main"),
    (9, 1, 7, "GitHub", "bioexcel/biobb_wf_md_setup/master"),
    (9, 30, 45, "Zenodo", "10.5281/zenodo.3242074"),
    (10, 10, 10, "GitHub", "bioexcel/biobb_wf_md_setup/v1.2"),
    (11, 59, 59, "Git", "https%3A%2F%2Fgit.example.org%2Fteam%2Fdemo.git/0123abc"),
    (12, 0, 1, "GitHub", "binder-examples/requirements/HEAD"),
    (13, 14, 9, "GitLab", "bioexcel%2Fdemo-notebooks/v2"),
    (14, 2, 2, "Gist", "someone/0123456789abcdef/HEAD"),
    (15, 45, 0, "GitHub", "jupyterlab/jupyterlab-demo/HEAD"),
    (16, 20, 33, "Zenodo", "10.5281/zenodo.3242074"),
    (18, 5, 5, "GitHub", "binder-examples/requirements/HEAD"),
    (23, 59, 59, "GitHub", "bioexcel/biobb_wf_md_setup/master"),
]
#: The evening before: left out of the day's report.
DAY_BEFORE = [(23, 30, 0, "GitHub", "binder-examples/requirements/HEAD"),
              (23, 59, 59, "GitHub", "jupyterlab/jupyterlab-demo/HEAD")]


def _events(day: str, launches: list[tuple[int, int, int, str, str]]
            ) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{day}T{h:02}:{m:02}:{s:02}.{(h * 7 + m) % 1000:03}421+00:00",
             launch_event(provider, spec, origin=ORIGIN))
            for h, m, s, provider, spec in launches]


@pytest.fixture(scope="module")
def day_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The day as Fluentd's stdout output prints the events (one JSON object a line), with
    BinderHub's own non-event stdout line, and one event as an Elasticsearch export holds
    it."""
    stdout = run_snippet(events.SNIPPET_KEY, events.eventlog_snippet(),
                         _events("2026-12-06", DAY_BEFORE) + _events("2026-12-07", DAY[:-1]))
    export = run_snippet(events.SNIPPET_KEY, events.eventlog_snippet(),
                         _events("2026-12-07", DAY[-1:]))
    (last,) = [json.loads(line) for line in export if line.startswith("{")]
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_text("\n".join([*stdout, json.dumps({"_index": "binder-launch-events-ebi",
                                                    "_source": last}), ""]))
    return path


REPORT = """\
Launches on 2026-12-07 (UTC): 16 launches of 7 repositories from 5 providers
(2 launches of other days left out, 1 line that is not a launch event skipped)

Per provider
      10  GitHub
       2  GitLab
       2  Zenodo
       1  Gist
       1  Git

Per repository
       5  GitHub      binder-examples/requirements
       4  GitHub      bioexcel/biobb_wf_md_setup
       2  GitLab      bioexcel/demo-notebooks
       2  Zenodo      10.5281/zenodo.3242074
       1  Gist        someone/0123456789abcdef
       1  Git         https://git.example.org/team/demo.git
       1  GitHub      jupyterlab/jupyterlab-demo
"""


def test_the_synthetic_day(day_file: Path) -> None:
    out = io.StringIO()
    assert launch_report.main([str(day_file), "--date", "2026-12-07"], out=out) == 0
    assert out.getvalue() == REPORT


def test_every_written_timestamp_is_a_whole_minute(day_file: Path) -> None:
    lines = [line for line in day_file.read_text().splitlines() if line.startswith("{")]
    stamps = [json.loads(line).get("timestamp") or json.loads(line)["_source"]["timestamp"]
              for line in lines]
    assert len(stamps) == len(DAY) + len(DAY_BEFORE)
    assert all(s.endswith(":00Z") for s in stamps)
    assert "2026-12-07T23:59:00Z" in stamps


def test_top_and_json(day_file: Path) -> None:
    out = io.StringIO()
    launch_report.main([str(day_file), "--date", "2026-12-07", "--top", "2"], out=out)
    assert out.getvalue().splitlines()[-4:] == [
        "Per repository (the 2 most launched)",
        "       5  GitHub      binder-examples/requirements",
        "       4  GitHub      bioexcel/biobb_wf_md_setup",
        "       7  (5 more repositories)",
    ]
    out = io.StringIO()
    launch_report.main([str(day_file), "--date", "2026-12-07", "--json"], out=out)
    data = json.loads(out.getvalue())
    assert data["launches"] == 16
    assert data["other_days"] == 2
    assert data["providers"] == {"GitHub": 10, "GitLab": 2, "Zenodo": 2, "Gist": 1, "Git": 1}
    assert data["repositories"][0] == {"provider": "GitHub",
                                       "repository": "binder-examples/requirements",
                                       "launches": 5}
    assert data["origins"] == {ORIGIN: 16}


def test_without_a_date_every_day_counts_and_the_range_is_named(day_file: Path) -> None:
    out = io.StringIO()
    launch_report.main([str(day_file)], out=out)
    assert out.getvalue().splitlines()[0] == (
        "Launches on 2026-12-06 to 2026-12-07 (UTC): 18 launches of 7 repositories from "
        "5 providers"
    )


def test_failures_and_other_origins_are_shown_apart(tmp_path: Path) -> None:
    base = {"schema": events.LAUNCH_SCHEMA, "version": 6, "timestamp": "2026-12-07T10:00:00Z",
            "provider": "GitHub", "spec": "a/b/HEAD", "status": "success", "origin": "x.org"}
    lines = [base, {**base, "status": "failure"}, {**base, "origin": "y.org"},
             {**base, "timestamp": "not a time"}]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n\n")
    out = io.StringIO()
    launch_report.main([str(path), "--date", "2026-12-07"], out=out)
    text = out.getvalue().splitlines()
    assert text[1] == "(1 failed launch left out, 2 lines that are not launch events skipped)"
    assert text[-3:] == ["Per origin", "       1  x.org", "       1  y.org"]


def test_bad_input_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert launch_report.main([str(tmp_path / "missing.jsonl")], out=io.StringIO()) == 2
    assert capsys.readouterr().err.startswith("error: cannot read ")
    with pytest.raises(SystemExit):
        launch_report.main(["x", "--date", "7 Dec"])
    assert "'7 Dec' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("provider", "spec", "repo"),
    [("GitHub", "owner/repo/main", "owner/repo"),
     ("GitLab", "group%2Fsub%2Fproject/main", "group/sub/project"),
     ("Git", "https%3A%2F%2Fexample.org%2Fr.git/abc", "https://example.org/r.git"),
     ("Zenodo", "10.5281/zenodo.1", "10.5281/zenodo.1"),
     ("Dataverse", "doi:10.7910/DVN/TJCLKP", "doi:10.7910/DVN/TJCLKP")],
)
def test_repository_of_a_spec(provider: str, spec: str, repo: str) -> None:
    assert launch_report.repository(provider, spec) == repo
