"""Excel import and export of the registry's persons, houses and organisations (实有人口/房屋/单位).

The public entry points; ``kind`` is one of :class:`SheetKind` ("persons", "houses",
"organisations"). Everything that touches the database runs in the compound's schema.
"""

from registry.excel.columns import SheetKind, spec_for
from registry.excel.error_file import error_filename, error_workbook
from registry.excel.errors import ImportRefusedError
from registry.excel.exporter import export_filename, export_workbook
from registry.excel.importer import (
    ImportInterruptedError,
    ImportResult,
    SheetRow,
    import_workbook,
    read_rows,
    run_import,
)
from registry.excel.limits import check_workbook_file
from registry.excel.retention import do_purge_import_files
from registry.excel.templates import template_filename, template_workbook

__all__ = [
    "ImportInterruptedError",
    "ImportRefusedError",
    "ImportResult",
    "SheetKind",
    "SheetRow",
    "check_workbook_file",
    "do_purge_import_files",
    "error_filename",
    "error_workbook",
    "export_filename",
    "export_workbook",
    "import_workbook",
    "read_rows",
    "run_import",
    "spec_for",
    "template_filename",
    "template_workbook",
]
