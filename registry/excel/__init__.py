"""Excel import and export of the registry's persons, houses and organisations (实有人口/房屋/单位).

The public entry points; ``kind`` is one of :class:`SheetKind` ("persons", "houses",
"organisations"). Everything that touches the database runs in the compound's schema.
"""

from registry.excel.columns import SheetKind, spec_for
from registry.excel.exporter import export_filename, export_workbook
from registry.excel.importer import (
    ImportInterruptedError,
    ImportRefusedError,
    ImportResult,
    SheetRow,
    import_workbook,
    read_rows,
    run_import,
)
from registry.excel.templates import template_filename, template_workbook

__all__ = [
    "ImportInterruptedError",
    "ImportRefusedError",
    "ImportResult",
    "SheetKind",
    "SheetRow",
    "export_filename",
    "export_workbook",
    "import_workbook",
    "read_rows",
    "run_import",
    "spec_for",
    "template_filename",
    "template_workbook",
]
