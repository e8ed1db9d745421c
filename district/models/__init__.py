"""Public-schema models of the admin-area tree and role assignments."""

from district.models.areas import Area
from district.models.audit import AuditAction, AuditEntry
from district.models.roles import RoleAssignment

__all__ = ["Area", "AuditAction", "AuditEntry", "RoleAssignment"]
