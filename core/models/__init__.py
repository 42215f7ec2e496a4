"""All tables. Importing this package registers every model on ``Base.metadata``."""

from core.models.base import SYSTEM_COLUMNS, Base, Synced
from core.models.factory import (
    Alert,
    Client,
    Downtime,
    Event,
    InventoryItem,
    Job,
    Machine,
    Message,
    Project,
)
from core.models.org import Device, EnrollmentCode, Organisation, Site
from core.models.people import User
from core.models.sync import (
    AppliedOp,
    AuditEntry,
    ConflictRecord,
    FeedCounter,
    FeedEntry,
    LoginThrottle,
    OutboxEntry,
    RefreshToken,
    SyncState,
)
from core.models.tour import CalendarEntry, FinanceRule, Show, ShowCost, Travel

__all__ = [
    "SYSTEM_COLUMNS",
    "Alert",
    "AppliedOp",
    "AuditEntry",
    "Base",
    "CalendarEntry",
    "Client",
    "ConflictRecord",
    "Device",
    "Downtime",
    "EnrollmentCode",
    "Event",
    "FeedCounter",
    "FeedEntry",
    "FinanceRule",
    "InventoryItem",
    "Job",
    "LoginThrottle",
    "Machine",
    "Message",
    "Organisation",
    "OutboxEntry",
    "Project",
    "RefreshToken",
    "Show",
    "ShowCost",
    "Site",
    "SyncState",
    "Synced",
    "Travel",
    "User",
]
