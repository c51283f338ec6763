"""The figures ``make e2e`` prints: wall times, counts and the access table, collected by the
tests as they run and written to ``build/e2e/report.md`` at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    figures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    tables: list[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = field(
        default_factory=list)

    def figure(self, section: str, name: str, value: object) -> None:
        self.figures.setdefault(section, []).append((name, str(value)))

    def seconds(self, section: str, name: str, seconds: float) -> None:
        self.figure(section, name, f"{seconds:.1f} s")

    def table(self, title: str, header: Sequence[str],
              rows: Sequence[Sequence[object]]) -> None:
        self.tables.append((title, header, rows))

    def markdown(self) -> str:
        lines = ["# make e2e: the real engine on a local control plane", ""]
        for section, rows in self.figures.items():
            lines += [f"## {section}", "", "| | |", "|---|---|"]
            lines += [f"| {name} | {value} |" for name, value in rows]
            lines.append("")
        for title, header, cells in self.tables:
            lines += [f"## {title}", "", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in cells]
            lines.append("")
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown())
