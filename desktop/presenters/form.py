"""A record form's logic: load, validate each field as it is typed, save through the
write path with the row version, and turn a conflict into a side-by-side choice.

The widget only shows what this says (values, per-field messages) and forwards edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from core import writes
from core.errors import Conflict, DomainError
from core.registry import registry
from core.serial import row_to_json, to_json
from core.tour import timezones
from desktop.i18n import tr
from desktop.presenters.errors import UserMessage, user_message
from desktop.presenters.fields import FieldSpec, ParseError, check_field, field_specs, from_text
from desktop.presenters.fields import to_text as value_text
from desktop.presenters.undo import UndoPresenter

MAX_REF_CHOICES = 2000


@dataclass
class ConflictChoice:
    """Our unsaved values against the stored row, for the fields where they differ."""

    entity: str
    id: str
    rows: list[tuple[str, Any, Any]]  # (field, mine, theirs) as JSON values
    theirs_version: int
    theirs: dict[str, Any]


class FormPresenter(QObject):
    fieldError = Signal(str, str)  # field, message ("" when fine)
    loaded = Signal()
    saved = Signal(str)  # row id
    failed = Signal(object)  # UserMessage
    conflicted = Signal(object)  # ConflictChoice

    def __init__(
        self,
        session: Any,
        entity: str,
        *,
        undo: UndoPresenter | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.spec = registry()[entity]
        self.undo = undo
        self.fields: list[FieldSpec] = field_specs(self.spec)
        # The stored row as JSON when the last write met a Conflict on this very row,
        # taken before the rollback expires it (None: nothing to offer).
        self._conflict_row: dict[str, Any] | None = None
        self._by_name = {f.name: f for f in self.fields}
        # Instant fields typed and shown in the time of their place (starts_at -> tz).
        self.zones = {
            f.name: z
            for f in self.fields
            if f.kind == "datetime" and (z := timezones.zone_field(self.spec.fields, f.name))
        }
        self.row_id: str | None = None
        self.version: int | None = None
        self._original: dict[str, Any] = {}
        self._values: dict[str, Any] = {}
        self._texts: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._zones_seen: dict[str, str] = {}
        self.conflict: ConflictChoice | None = None
        self.read_only = self.spec.append_only

    # -- state ---------------------------------------------------------------------------

    @property
    def is_new(self) -> bool:
        return self.row_id is None

    @property
    def dirty(self) -> bool:
        """Edited since loaded (or, for a new record, since the empty form was shown);
        a half-typed value that does not parse yet counts too."""
        if any(name in self._texts for name in self.errors):
            return True
        return any(self._values.get(k) != self._original.get(k) for k in self._values)

    def value(self, name: str) -> Any:
        return self._values.get(name)

    def text(self, name: str) -> str:
        if name in self._texts:
            return self._texts[name]
        value = self._values.get(name)
        if name in self.zones and value is not None:
            return timezones.local_time(value, self._values.get(self.zones[name])).text(
                with_zone=False
            )
        return value_text(self._by_name[name].kind, value)

    def zone_of(self, name: str) -> str | None:
        """The zone a place's time is typed in ('Europe/Madrid'); None for an instant that
        belongs to no place (typed in the laptop's own time)."""
        return (self._values.get(self.zones[name]) or "UTC") if name in self.zones else None

    def new(self, defaults: dict[str, Any] | None = None) -> None:
        self.row_id, self.version, self.conflict = None, None, None
        self._original = {}
        self._values = {}
        for f in self.fields:
            info = self.spec.fields.model_fields[f.name]
            default = None if info.is_required() else info.get_default(call_default_factory=True)
            if f.kind == "bool" and default is None:
                # The box shows unticked, so unticked is what is saved: a value left to
                # the server's default would differ from what the form showed.
                default = False
            self._values[f.name] = default
        self._values.update(defaults or {})
        self._remember_zones()
        self._texts.clear()
        self.errors.clear()
        self.loaded.emit()
        # What "unchanged" means for a new record: the form as first shown (after the
        # editors have filled in, since an empty choice box reports its own value).
        self._original = dict(self._values)
        self._texts.clear()

    def load(self, id: str) -> bool:
        model = self.spec.model
        with self.session.read() as s:
            row = s.get(model, (self.session.org_id, id))
            if row is None or row.deleted_at is not None:
                self.failed.emit(user_message(writes.NotFound(f"{self.spec.name} '{id}'")))
                return False
            values = {f.name: getattr(row, f.name) for f in self.fields}
            self.row_id, self.version = row.id, row.version
        self._original = dict(values)
        self._values = dict(values)
        self._remember_zones()
        self._texts.clear()
        self.errors.clear()
        self.conflict = None
        self.loaded.emit()
        return True

    # -- editing ---------------------------------------------------------------------------

    def set_text(self, name: str, text: str) -> str:
        """An editor's text changed: parse, validate this field, remember. Returns the
        message ("" when fine) and emits it for the widget."""
        f = self._by_name[name]
        self._texts[name] = text
        try:
            if name in self.zones and text.strip():
                value = self._parse_local(name, text)
            else:
                value = from_text(f.kind, text)
        except ParseError as exc:
            return self._error(name, str(exc))
        except DomainError as exc:
            return self._error(name, user_message(exc).fields.get(name, exc.message))
        return self.set_value(name, value, _keep_text=True)

    def _parse_local(self, name: str, text: str) -> Any:
        try:
            return timezones.parse_local(text, self.zone_of(name), field=name)
        except ValueError as exc:
            raise ParseError(f"{tr('Expected')} YYYY-MM-DD HH:MM") from exc

    def set_value(self, name: str, value: Any, *, _keep_text: bool = False) -> str:
        f = self._by_name[name]
        if not _keep_text:
            self._texts.pop(name, None)
        self._values[name] = value
        message = self._error(name, check_field(self.spec.update, name, value, f.required))
        if not message and name in self._zones_seen and value != self._zones_seen[name]:
            # Compared with the last valid zone: a half-typed one ("Europe/Ma") is no place.
            old = self._zones_seen[name]
            self._zones_seen[name] = value
            self._rezone(name, old)
        return message

    def _remember_zones(self) -> None:
        self._zones_seen = {z: self._values.get(z) or "UTC" for z in self.zones.values()}

    def _rezone(self, zone_name: str, old_tz: Any) -> None:
        """The zone changed: the time typed stays the same wall-clock time, now in the
        new place (a show at 21:30 moved to Tokyo is at 21:30 in Tokyo)."""
        for dt_name, z in self.zones.items():
            instant = self._values.get(dt_name)
            if z != zone_name or instant is None:
                continue
            wall = timezones.local(instant, old_tz).replace(tzinfo=None)
            try:
                self._values[dt_name] = timezones.to_instant(wall, self.zone_of(dt_name),
                                                             field=dt_name)  # fmt: skip
            except DomainError as exc:
                self._error(dt_name, user_message(exc).fields.get(dt_name, exc.message))
            else:
                self._error(dt_name, "")

    def _error(self, name: str, message: str) -> str:
        if message:
            self.errors[name] = message
        else:
            self.errors.pop(name, None)
        self.fieldError.emit(name, message)
        return message

    def ref_choices(self, target: str) -> list[tuple[str, str]]:
        from desktop.models import refs

        with self.session.read() as s:
            return refs.choices(s, self.session.org_id, target)

    # -- saving ----------------------------------------------------------------------------

    def changes(self) -> dict[str, Any]:
        if self.is_new:
            return {k: v for k, v in self._values.items() if v is not None}
        return {k: v for k, v in self._values.items() if v != self._original.get(k)}

    def save(self) -> bool:
        for f in self.fields:  # re-check everything: a required field never touched
            if f.name not in self.errors:
                self.set_value(f.name, self._values.get(f.name), _keep_text=f.name in self._texts)
        if self.errors:
            self.failed.emit(UserMessage(*_invalid_texts(self.errors)))
            return False
        data = self.changes()
        if not data and not self.is_new:
            self.saved.emit(self.row_id or "")
            return True
        try:
            row_id, version, kind, before = self._write(data)
        except Conflict as exc:
            if self._conflict_row is not None:
                self._offer_choice(data, self._conflict_row)
            else:
                self._report(exc)
            return False
        except DomainError as exc:
            self._report(exc)
            return False
        if self.undo is not None:
            self.undo.record_write(self.spec.name, _Ref(row_id, version), kind, before)
        self.load(row_id)
        self.saved.emit(row_id)
        return True

    def _write(self, data: dict[str, Any]) -> tuple[str, int, str, dict[str, Any]]:
        actor = self.session.actor
        self._conflict_row = None
        with self.session.write() as s:
            try:
                if self.row_id is None:  # a new record
                    row = writes.create(s, actor=actor, entity=self.spec.name, data=data)
                    return row.id, row.version, "create", {}
                before = {k: to_json(self._original.get(k)) for k in data}
                row = writes.update(s, actor=actor, entity=self.spec.name, id=self.row_id,
                                    data=data, version=self.version)  # fmt: skip
                return row.id, row.version, "update", before
            except Conflict as exc:
                # Snapshot now: once the transaction rolls back the row is expired.
                current = exc.current
                self._conflict_row = (
                    row_to_json(current) if current is not None and not self.is_new
                    and current.id == self.row_id else None
                )  # fmt: skip
                raise

    def _report(self, exc: DomainError) -> None:
        msg = user_message(exc)
        for name, text in msg.fields.items():
            if name in self._by_name:
                self._error(name, text)
        self.failed.emit(msg)

    def _offer_choice(self, mine: dict[str, Any], theirs: dict[str, Any]) -> None:
        rows = []
        for f in self.fields:
            ours = to_json(self._values.get(f.name))
            stored = theirs.get(f.name)
            if f.name in mine and ours != stored:
                rows.append((f.name, ours, stored))
        self.conflict = ConflictChoice(self.spec.name, self.row_id or "", rows,
                                       int(theirs["version"]), theirs)  # fmt: skip
        self.conflicted.emit(self.conflict)
        self.failed.emit(user_message(Conflict("conflict")))

    def resolve(self, keep_mine: set[str]) -> bool:
        """Apply the conflict choice: the fields in ``keep_mine`` get our value, all
        others keep the stored one. Saved against the stored version."""
        choice = self.conflict
        if choice is None:
            return False
        data = {name: mine for name, mine, _ in choice.rows if name in keep_mine}
        self.conflict = None
        if not data:
            return self.load(choice.id)
        before = {name: choice.theirs.get(name) for name in data}
        try:
            with self.session.write() as s:
                row = writes.update(
                    s,
                    actor=self.session.actor,
                    entity=self.spec.name,
                    id=choice.id,
                    data=data,
                    version=choice.theirs_version,
                )
                row_id, version = row.id, row.version  # fmt: skip
        except DomainError as exc:
            self._report(exc)
            return False
        if self.undo is not None:
            self.undo.record_write(self.spec.name, _Ref(row_id, version), "update", before)
        self.load(row_id)
        self.saved.emit(row_id)
        return True

    def delete(self) -> bool:
        """Move the record to the trash (a tombstone that Restore or Undo brings back)."""
        if self.row_id is None:  # a new record: nothing to delete
            return False
        try:
            with self.session.write() as s:
                row = writes.delete(s, actor=self.session.actor, entity=self.spec.name,
                                    id=self.row_id, version=self.version)  # fmt: skip
                ref = _Ref(row.id, row.version)
        except DomainError as exc:
            self._report(exc)
            return False
        if self.undo is not None:
            self.undo.record_write(self.spec.name, ref, "delete", {})
        self.new()
        return True


@dataclass
class _Ref:
    id: str
    version: int


def _invalid_texts(errors: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    from desktop.i18n import field_label, tr

    text = "\n".join(f"{field_label(k)}: {v}" for k, v in errors.items())
    return tr("Please correct the highlighted fields."), text, dict(errors)
