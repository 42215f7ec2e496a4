"""Import of the old browser apps' localStorage exports (factory ERP and tour shows).

``files`` reads and recognises an export, ``coerce`` and ``mapping`` turn legacy rows
into write-path input, ``importer`` writes them in one transaction, ``report`` says what
happened. See ``core.legacy.importer`` for the guarantees.
"""

from core.legacy.files import MAX_BYTES, Export, UnreadableExport, read_export
from core.legacy.importer import run_import
from core.legacy.report import ImportReport, Progress, Refusal

__all__ = [
    "MAX_BYTES",
    "Export",
    "ImportReport",
    "Progress",
    "Refusal",
    "UnreadableExport",
    "read_export",
    "run_import",
]
