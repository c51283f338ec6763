"""Launches per repository and per provider, from a day of BinderHub launch events.

    python -m tools.launch_report events-2026-12-07.jsonl --date 2026-12-07
    kubectl -n logging logs ds/fluentd | python -m tools.launch_report - --date 2026-12-07
    python -m tools.launch_report export.jsonl --json       # for a spreadsheet or a funder

Reads JSON lines (files, or ``-`` for stdin): each line a ``binderhub.jupyter.org/launch``
event as BinderHub writes it and Fluentd routes it (``components/releases/events.py``), or a
document of an Elasticsearch/OpenSearch export holding one under ``_source``. Lines that are
not launch events (other logs, blank lines) are skipped and counted. With ``--date``, only
that UTC day's events count; the others are counted apart.

A repository is the ``spec`` without its ref for GitHub, Gist, GitLab and plain Git (their
specs end in ``/<ref>``; GitLab and Git specs are URL-escaped, shown unescaped), and the
whole ``spec`` for the archive providers (Zenodo, Figshare, Hydroshare, Dataverse, CKAN: a DOI
or record ID). mybinder.org's archive documents the fields
(https://github.com/jupyterhub/mybinder.org-deploy/blob/main/docs/source/analytics/events-archive.md).
Only ``status: success`` launches count as launches (BinderHub emits no other today); failures
are counted apart if any appear. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

SCHEMA = "binderhub.jupyter.org/launch"
#: Providers whose spec ends in ``/<ref>``.
REF_PROVIDERS = {"GitHub", "Gist", "GitLab", "Git"}
#: Providers whose spec is URL-escaped.
ESCAPED_PROVIDERS = {"GitLab", "Git"}


def repository(provider: str, spec: str) -> str:
    """The repository a launch's spec names."""
    repo = spec.rsplit("/", 1)[0] if provider in REF_PROVIDERS and "/" in spec else spec
    return urllib.parse.unquote(repo) if provider in ESCAPED_PROVIDERS else repo


@dataclass
class Tally:
    launches: int = 0
    failures: int = 0
    other_days: int = 0
    skipped: int = 0
    days: set[str] = field(default_factory=set)
    providers: Counter[str] = field(default_factory=Counter)
    repositories: Counter[tuple[str, str]] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)


def _event(line: str) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("_source"), dict):
        data = data["_source"]
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data


def _day(event: dict[str, Any]) -> str | None:
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.date().isoformat()


def tally(lines: Iterable[str], date: str | None = None) -> Tally:
    result = Tally()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        event = _event(line)
        day = _day(event) if event is not None else None
        if event is None or day is None:
            result.skipped += 1
            continue
        if date is not None and day != date:
            result.other_days += 1
            continue
        if event.get("status") != "success":
            result.failures += 1
            continue
        provider = str(event.get("provider", "?"))
        result.launches += 1
        result.days.add(day)
        result.providers[provider] += 1
        result.repositories[(provider, repository(provider, str(event.get("spec", "?"))))] += 1
        result.origins[str(event.get("origin", "?"))] += 1
    return result


def _ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
    """Most launches first, then by name, so the report reads the same every time."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def text_report(result: Tally, date: str | None, top: int | None) -> Iterator[str]:
    days = sorted(result.days)
    when = date or (days[0] if len(days) == 1 else
                    f"{days[0]} to {days[-1]}" if days else "no day")
    yield (f"Launches on {when} (UTC): {result.launches} launches of "
           f"{len(result.repositories)} repositories from {len(result.providers)} providers")
    notes = [f"{n} {one if n == 1 else many}" for n, one, many in (
        (result.other_days, "launch of another day left out", "launches of other days left out"),
        (result.failures, "failed launch left out", "failed launches left out"),
        (result.skipped, "line that is not a launch event skipped",
         "lines that are not launch events skipped")) if n]
    if notes:
        yield f"({', '.join(notes)})"
    yield ""
    yield "Per provider"
    for provider, count in _ranked(result.providers):
        yield f"  {count:6}  {provider}"
    yield ""
    shown = _ranked(result.repositories)
    rest = shown[top:] if top is not None else []
    yield "Per repository" + (f" (the {top} most launched)" if rest else "")
    for (provider, repo), count in shown[:top] if top is not None else shown:
        yield f"  {count:6}  {provider:10}  {repo}"
    if rest:
        yield (f"  {sum(c for _, c in rest):6}  ({len(rest)} more repositories)")
    if len(result.origins) > 1:
        yield ""
        yield "Per origin"
        for origin, count in _ranked(result.origins):
            yield f"  {count:6}  {origin}"


def json_report(result: Tally, date: str | None) -> dict[str, Any]:
    return {
        "date": date, "days": sorted(result.days), "launches": result.launches,
        "failures": result.failures, "other_days": result.other_days,
        "skipped": result.skipped,
        "providers": dict(_ranked(result.providers)),
        "repositories": [{"provider": p, "repository": r, "launches": n}
                         for (p, r), n in _ranked(result.repositories)],
        "origins": dict(_ranked(result.origins)),
    }


def _lines(paths: list[str]) -> Iterator[str]:
    for name in paths:
        if name == "-":
            yield from sys.stdin
            continue
        with Path(name).open(encoding="utf-8", errors="replace") as handle:
            yield from handle


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m tools.launch_report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON lines; - for stdin")
    parser.add_argument("--date", type=_date, help="only this UTC day (YYYY-MM-DD)")
    parser.add_argument("--top", type=int, metavar="N", help="only the N most launched repos")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        result = tally(_lines(args.files), args.date)
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json_report(result, args.date), indent=2), file=out)
    else:
        for line in text_report(result, args.date, args.top):
            print(line, file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
