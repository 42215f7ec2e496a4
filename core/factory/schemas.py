"""Input fields of the factory entities (create bodies; updates derive from them)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from core.fields import (
    Color,
    DocNumber,
    Email,
    IdList,
    LongText,
    Name,
    Percent,
    Quantity,
    Ratio,
    RefId,
    ShortText,
    SignedQuantity,
    Strict,
    Timestamp,
)

MachineType = Literal[
    "CONFORMADORA", "PANELIZADO", "SOLDADURA", "PINTURA", "CARGA", "PANELES_SIP", "HERRERIA"
]
MachineStatus = Literal["RUNNING", "IDLE", "MAINTENANCE", "ERROR", "OFFLINE"]
JobStatus = Literal["PENDING", "IN_PROGRESS", "PAUSED", "COMPLETED", "CANCELED"]
# A job still in its machine's queue (not completed or canceled).
ACTIVE: tuple[JobStatus, ...] = ("PENDING", "IN_PROGRESS", "PAUSED")
Priority = Literal["LOW", "NORMAL", "HIGH", "URGENT"]
ProjectStatus = Literal["PLANNING", "ACTIVE", "ON_HOLD", "COMPLETED", "CANCELED"]
Severity = Literal["INFO", "WARNING", "CRITICAL"]
AlertKind = Literal[
    "manual", "maintenance_due", "maintenance_soon", "machine_error", "low_stock", "login_guessing"
]
DowntimeReason = Literal[
    "BREAKDOWN",
    "SETUP",
    "MATERIAL",
    "MAINTENANCE",
    "NO_OPERATOR",
    "QUALITY",
    "PLANNED_STOP",
    "OTHER",
]
Unit = Literal["m", "pcs", "kg", "l", "ud", "m2", "t"]


class ClientFields(Strict):
    name: Name
    tax_id: ShortText | None = None
    contact: ShortText | None = None
    email: Email | None = None
    phone: ShortText | None = None
    address: ShortText | None = None


class ProjectFields(Strict):
    name: Name
    client_id: RefId | None = None
    status: ProjectStatus = "PLANNING"
    start_date: date | None = None
    due_date: date | None = None
    description: LongText | None = None


class MachineFields(Strict):
    name: Name
    type: MachineType
    category: ShortText | None = None
    brand: ShortText | None = None
    status: MachineStatus = "IDLE"
    status_since: Timestamp | None = None
    current_job_id: RefId | None = None
    operator_ids: IdList = Field(default_factory=list)
    ideal_rate: Decimal | None = Field(default=None, gt=0, le=100_000, decimal_places=4)
    oee_availability: Ratio | None = None
    oee_performance: Ratio | None = None
    oee_quality: Ratio | None = None
    efficiency: Percent | None = None
    is_active: bool = True
    color: Color | None = None
    total_meters: Quantity = Decimal(0)
    maintenance_interval: Quantity | None = None
    next_maintenance_at: Quantity | None = None


class JobFields(Strict):
    title: Name
    machine_id: RefId
    project_id: RefId | None = None
    doc_number: DocNumber | None = None
    status: JobStatus = "PENDING"
    priority: Priority = "NORMAL"
    # Left out: the end of the machine's queue (core.factory.rules).
    sequence: int | None = Field(default=None, ge=0, le=1_000_000)
    unit: Literal["m", "pcs"] = "m"
    quantity: Quantity
    produced_qty: Quantity = Decimal(0)
    scrap_qty: Quantity = Decimal(0)
    progress: Percent = Decimal(0)
    operator_ids: IdList = Field(default_factory=list)
    due_at: Timestamp | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    short_close_reason: ShortText | None = None


ReportKind = Literal["report", "opening", "correction"]


class ProductionReportFields(Strict):
    job_id: RefId
    # Left out: the job's machine.
    machine_id: RefId | None = None
    operator_id: RefId | None = None
    device_id: ShortText | None = None
    kind: ReportKind = "report"
    good_qty: SignedQuantity
    scrap_qty: SignedQuantity = Decimal(0)
    at: Timestamp | None = None
    reverses_id: RefId | None = None
    reason: ShortText | None = None


class InventoryFields(Strict):
    sku: Name
    name: Name
    unit: Unit = "ud"
    quantity: Quantity
    reorder_point: Quantity = Decimal(0)
    location: ShortText | None = None


class AlertFields(Strict):
    machine_id: RefId | None = None
    severity: Severity = "INFO"
    kind: AlertKind = "manual"
    message: Name
    raised_at: Timestamp | None = None
    dismissed_by: RefId | None = None
    dismissed_at: Timestamp | None = None


class MessageFields(Strict):
    from_user_id: RefId | None = None
    to_user_id: RefId
    body: LongText = Field(min_length=1)
    sent_at: Timestamp | None = None
    read_at: Timestamp | None = None


class EventFields(Strict):
    type: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Z0-9_]+$")]
    user_id: RefId | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    at: Timestamp | None = None


class DowntimeFields(Strict):
    machine_id: RefId
    started_at: Timestamp
    ended_at: Timestamp | None = None
    reason: DowntimeReason = "OTHER"
    planned: bool = False
    notes: LongText | None = None
    reported_by: RefId | None = None
