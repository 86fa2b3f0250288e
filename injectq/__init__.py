"""injectq: async-first dependency injection on anyio.

Layout: this module is the public façade and only re-exports.  The machinery
lives in ``injectq._core`` along the container's pipeline --
declare: ``_keys``, ``_spec`` (what a provider needs), ``_bindings`` (what a
key is bound to, what bind time refuses);
validate: ``_validate`` (every problem at once), ``_report``, ``_graph``;
compile: ``_planner`` (bindings to a graph of nodes, lifetimes, cycles),
``_plan`` (each node's builders), ``_codegen`` and ``_trace`` (one generated,
debuggable function per key);
run: ``_scope`` (scope handles), ``_flight`` (one build per key at a time),
``_finalize`` (teardown and its two drivers), ``_registry`` (custom scopes),
``_managers`` and ``_ready`` (scope managers), ``_active`` (the active
container), ``_override`` (test overrides).
``_container`` ties them together; ``_inject`` holds ``@inject`` and the
lifetime decorators, ``_modules`` the modules, ``_errors`` and ``_advice`` the
exceptions and their messages.  ``injectq.scopes``, ``injectq.testing``,
``injectq.diagnostics`` and ``injectq.integrations`` are thin public modules.
"""

from types import FunctionType as _FunctionType

from ._core._container import InjectQ as InjectQ
from ._core._errors import AlreadyRegisteredError as AlreadyRegisteredError
from ._core._errors import BindingError as BindingError
from ._core._errors import CircularDependencyError as CircularDependencyError
from ._core._errors import DependencyNotFoundError as DependencyNotFoundError
from ._core._errors import FinalizationError as FinalizationError
from ._core._errors import InjectionError as InjectionError
from ._core._errors import InjectQError as InjectQError
from ._core._errors import ScopeError as ScopeError
from ._core._inject import inject as inject
from ._core._inject import register_as as register_as
from ._core._inject import scoped as scoped
from ._core._inject import singleton as singleton
from ._core._inject import transient as transient
from ._core._keys import Inject as Inject
from ._core._keys import Scope as Scope
from ._core._keys import ScopeId as ScopeId
from ._core._managers import ScopeManager as ScopeManager
from ._core._modules import ConfigurationModule as ConfigurationModule
from ._core._modules import Module as Module
from ._core._modules import ProviderModule as ProviderModule
from ._core._modules import SimpleModule as SimpleModule
from ._core._modules import provider as provider
from ._core._ready import ScopeMetrics as ScopeMetrics
from ._core._ready import SessionScopeManager as SessionScopeManager
from ._core._ready import TenantScopeManager as TenantScopeManager
from ._core._ready import WorkflowRecord as WorkflowRecord
from ._core._ready import WorkflowScopeManager as WorkflowScopeManager
from ._core._report import Problem as Problem
from ._core._report import ValidationError as ValidationError
from ._core._report import ValidationReport as ValidationReport
from ._core._scope import ScopeHandle as ScopeHandle

__all__ = [
    "AlreadyRegisteredError",
    "BindingError",
    "CircularDependencyError",
    "ConfigurationModule",
    "DependencyNotFoundError",
    "FinalizationError",
    "Inject",
    "InjectQ",
    "InjectQError",
    "InjectionError",
    "Module",
    "Problem",
    "ProviderModule",
    "Scope",
    "ScopeError",
    "ScopeHandle",
    "ScopeId",
    "ScopeManager",
    "ScopeMetrics",
    "SessionScopeManager",
    "SimpleModule",
    "TenantScopeManager",
    "ValidationError",
    "ValidationReport",
    "WorkflowRecord",
    "WorkflowScopeManager",
    "inject",
    "provider",
    "register_as",
    "scoped",
    "singleton",
    "transient",
]

__version__ = "0.1.0.dev0"


def _publish() -> None:
    """Public names print under ``injectq`` (``injectq.ScopeError``), not ``injectq._core...``."""
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, (type, _FunctionType)) and obj.__module__.startswith("injectq._core"):
            obj.__module__ = __name__


_publish()
