"""Factory domain: machines, jobs, projects, clients, inventory, alerts, messages,
events and downtime."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base, Synced, live_unique, ref
from core.orm.types import Fixed


class Client(Synced, Base):
    __tablename__ = "clients"
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(400))


class Project(Synced, Base):
    __tablename__ = "projects"
    __table_args__ = (ref("client_id", "clients"),)
    client_id: Mapped[str | None] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)


class Machine(Synced, Base):
    __tablename__ = "machines"
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    status_since: Mapped[datetime | None]
    # No database foreign key: machines and jobs point at each other; the write path
    # checks the reference instead.
    current_job_id: Mapped[str | None] = mapped_column(ID)
    operator_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    ideal_rate: Mapped[Decimal | None] = mapped_column(Fixed(4))
    oee_availability: Mapped[Decimal | None] = mapped_column(Fixed(4))
    oee_performance: Mapped[Decimal | None] = mapped_column(Fixed(4))
    oee_quality: Mapped[Decimal | None] = mapped_column(Fixed(4))
    efficiency: Mapped[Decimal | None] = mapped_column(Fixed(4))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    color: Mapped[str | None] = mapped_column(String(9))
    total_meters: Mapped[Decimal] = mapped_column(Fixed(3), default=Decimal(0))
    maintenance_interval: Mapped[Decimal | None] = mapped_column(Fixed(3))
    next_maintenance_at: Mapped[Decimal | None] = mapped_column(Fixed(3))


class Job(Synced, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        ref("project_id", "projects"),
        ref("machine_id", "machines"),
        Index("ix_jobs_queue", "org_id", "machine_id", "status", "sequence"),
        # The jobs list's default order (the registry's default_sort).
        Index("ix_jobs_sequence", "org_id", "sequence"),
        # The office sorts by title and searches jobs by project (desktop_indexes).
        Index("ix_jobs_title", "org_id", "title", "id"),
        Index("ix_jobs_project", "org_id", "project_id"),
        # The active jobs (queues, board) among a plant's completed ones (jobs_status_index).
        Index("ix_jobs_status", "org_id", "status"),
    )
    project_id: Mapped[str | None] = mapped_column(ID)
    machine_id: Mapped[str] = mapped_column(ID)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    unit: Mapped[str] = mapped_column(String(10), default="m")
    quantity: Mapped[Decimal] = mapped_column(Fixed(3))
    produced_qty: Mapped[Decimal] = mapped_column(Fixed(3), default=Decimal(0))
    scrap_qty: Mapped[Decimal] = mapped_column(Fixed(3), default=Decimal(0))
    progress: Mapped[Decimal] = mapped_column(Fixed(4), default=Decimal(0))
    operator_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    due_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Why a job was completed below its quantity (required then: core.factory.rules).
    short_close_reason: Mapped[str | None] = mapped_column(String(200))
    # The number people see (VLC-OT-0042), unique across the organisation's sites.
    doc_number: Mapped[str | None] = mapped_column(String(32))


class ProductionReport(Synced, Base):
    """What was made, as it was reported: append-only. A job's produced and scrap totals
    are sums of these, so reports from two tablets or two sites add up; a correction is
    a reversing report (negative quantities) naming the report it corrects."""

    __tablename__ = "production_reports"
    __table_args__ = (
        ref("job_id", "jobs"),
        ref("machine_id", "machines"),
        Index("ix_production_reports_job", "org_id", "job_id"),
        Index("ix_production_reports_at", "org_id", "at"),
    )
    job_id: Mapped[str] = mapped_column(ID)
    machine_id: Mapped[str] = mapped_column(ID)
    operator_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), default="report")
    good_qty: Mapped[Decimal] = mapped_column(Fixed(3))
    scrap_qty: Mapped[Decimal] = mapped_column(Fixed(3), default=Decimal(0))
    at: Mapped[datetime]
    reverses_id: Mapped[str | None] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(String(200))


class InventoryItem(Synced, Base):
    __tablename__ = "inventory"
    __table_args__ = (live_unique("inventory", "sku"),)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[Decimal] = mapped_column(Fixed(3))
    reorder_point: Mapped[Decimal] = mapped_column(Fixed(3), default=Decimal(0))
    location: Mapped[str | None] = mapped_column(String(100))


class Alert(Synced, Base):
    __tablename__ = "alerts"
    __table_args__ = (ref("machine_id", "machines"),)
    machine_id: Mapped[str | None] = mapped_column(ID)
    severity: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30), default="manual")
    message: Mapped[str] = mapped_column(String(500))
    raised_at: Mapped[datetime]
    dismissed_by: Mapped[str | None] = mapped_column(ID)
    dismissed_at: Mapped[datetime | None]


class Message(Synced, Base):
    __tablename__ = "messages"
    __table_args__ = (ref("from_user_id", "users"), ref("to_user_id", "users"))
    from_user_id: Mapped[str] = mapped_column(ID)
    to_user_id: Mapped[str] = mapped_column(ID)
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class Event(Synced, Base):
    __tablename__ = "events"
    __table_args__ = (ref("user_id", "users"), Index("ix_events_at", "org_id", "at"))
    type: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(ID)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class Downtime(Synced, Base):
    __tablename__ = "downtimes"
    __table_args__ = (
        ref("machine_id", "machines"),
        Index("ix_downtimes_machine", "org_id", "machine_id", "started_at"),
    )
    machine_id: Mapped[str] = mapped_column(ID)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(40))
    planned: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(ID)
