"""What an import did: rows imported, rows already there, rows refused and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Refusal:
    entity: str
    id: str | None
    field: str  # the legacy key at fault, or "id" / "row"
    message: str
    file: str | None = None
    index: int | None = None  # position of the row in its list in the file


@dataclass(frozen=True)
class Progress:
    stage: str  # "hashing" or an entity name
    done: int  # rows handled so far, over all stages
    total: int


@dataclass
class ImportReport:
    files: list[str]
    org_id: str | None = None
    imported: dict[str, int] = field(default_factory=dict)
    # Rows whose id is already in the store: skipped, never overwritten. ``differs`` lists
    # those whose stored fields are not what the file says (edited since, or another
    # export with the same ids), so someone can look.
    already_present: dict[str, int] = field(default_factory=dict)
    differs: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, bucket: dict[str, int], entity: str) -> None:
        bucket[entity] = bucket.get(entity, 0) + 1

    def refuse(self, refusal: Refusal) -> None:
        self.refused.append(refusal)

    @property
    def total_imported(self) -> int:
        return sum(self.imported.values())

    def refused_by_entity(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.refused:
            out[r.entity] = out.get(r.entity, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "org_id": self.org_id,
            "imported": self.imported,
            "already_present": self.already_present,
            "differs": self.differs,
            "refused": [asdict(r) for r in self.refused],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }

    def render(self) -> str:
        entities = list(
            dict.fromkeys([*self.imported, *self.already_present, *self.refused_by_entity()])
        )
        refused = self.refused_by_entity()
        lines = [f"{'entity':<12} {'imported':>9} {'present':>9} {'refused':>8}"]
        for e in entities:
            lines.append(
                f"{e:<12} {self.imported.get(e, 0):>9} {self.already_present.get(e, 0):>9} "
                f"{refused.get(e, 0):>8}"
            )
        lines.append(
            f"{'total':<12} {self.total_imported:>9} {sum(self.already_present.values()):>9} "
            f"{len(self.refused):>8}   ({self.seconds:.1f} s)"
        )
        if self.refused:
            lines.append("")
            lines.append("refused rows:")
            for r in self.refused:
                where = f" [{r.file}#{r.index}]" if r.file is not None else ""
                lines.append(f"  {r.entity} {r.id or '(no id)'}: {r.field}: {r.message}{where}")
        if self.differs:
            lines.append("")
            lines.append(
                f"{len(self.differs)} row(s) already present differ from the file (kept as stored):"
            )
            for d in self.differs[:50]:
                lines.append(f"  {d['entity']} {d['id']}: {', '.join(d['fields'])}")
            if len(self.differs) > 50:
                lines.append(f"  ... and {len(self.differs) - 50} more (see --json)")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)
