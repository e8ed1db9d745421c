"""Public-schema models of the admin-area tree and role assignments."""

from district.models.areas import Area
from district.models.audit import CHANGE_ACTIONS, AuditAction, AuditEntry
from district.models.probes import IdentifierProbe, ProbeKind, ProbeLockout
from district.models.roles import RoleAssignment

__all__ = [
    "CHANGE_ACTIONS",
    "Area",
    "AuditAction",
    "AuditEntry",
    "IdentifierProbe",
    "ProbeKind",
    "ProbeLockout",
    "RoleAssignment",
]
