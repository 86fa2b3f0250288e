"""Ready scope managers for sessions, tenants and workflows, and the base class."""

from ._core._managers import ScopeManager as ScopeManager
from ._core._ready import ScopeMetrics as ScopeMetrics
from ._core._ready import SessionScopeManager as SessionScopeManager
from ._core._ready import TenantScopeManager as TenantScopeManager
from ._core._ready import WorkflowRecord as WorkflowRecord
from ._core._ready import WorkflowScopeManager as WorkflowScopeManager

__all__ = [
    "ScopeManager",
    "ScopeMetrics",
    "SessionScopeManager",
    "TenantScopeManager",
    "WorkflowRecord",
    "WorkflowScopeManager",
]
