"""pynetdicom's ``negotiate_as_requestor``, without validating every UID a second time (issue 16).

When an A-ASSOCIATE-AC arrives, pynetdicom rebuilds each requested presentation context with the
peer's answer, through the setters that validate a UID with pydicom (a regular expression and a
``UID`` construction per abstract and transfer syntax): about 5 ms for the 123 contexts of a
default association, on the requestor's own thread, although both UIDs were validated already
(the requested one when the context was built, the accepted one when the AC was decoded).

:func:`negotiate_as_requestor` is the same function with those two values copied as they are
when they already are ``UID`` objects (anything else still goes through the setter). It replaces
the name in ``pynetdicom.acse``, where ``ACSE._negotiate_as_requestor`` looks it up: for every
association of the process, with the same results (``tests/test_negotiation_seam.py`` compares
both on every role combination); ``SEAMS`` pins upstream's body.
"""

from __future__ import annotations

from pydicom.uid import UID
from pynetdicom import acse
from pynetdicom.presentation import SCP_SCU_ROLES, PresentationContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pynetdicom.presentation import ListCXType, RoleType


def negotiate_as_requestor(
    rq_contexts: ListCXType, ac_contexts: ListCXType, roles: RoleType = None
) -> ListCXType:
    """``pynetdicom.presentation.negotiate_as_requestor``, line for line, with the validated UIDs
    copied instead of validated again."""
    roles = roles or {}
    if not rq_contexts:
        raise ValueError("Requestor contexts are required")
    output = []
    requestor_contexts = {context.context_id: context for context in rq_contexts}
    acceptor_contexts = {context.context_id: context for context in ac_contexts}
    for context_id, rq_context in requestor_contexts.items():
        context = PresentationContext()
        context.context_id = context_id
        _set_abstract_syntax(context, rq_context.abstract_syntax)
        context._as_scu = False
        context._as_scp = False
        if context_id in acceptor_contexts:
            ac_context = acceptor_contexts[context_id]
            if ac_context.transfer_syntax:
                _set_transfer_syntax(context, ac_context.transfer_syntax[0])
            context.result = ac_context.result
            rq_roles = (rq_context.scu_role, rq_context.scp_role)
            ac_roles = roles.get(context.abstract_syntax, (None, None))  # type: ignore[arg-type]
            if ac_context.result == 0x00 and None not in ac_roles:
                outcome = SCP_SCU_ROLES[rq_roles][ac_roles]
                context._as_scu = outcome[0]
                context._as_scp = outcome[1]
            else:
                context._as_scp = False
                context._as_scu = True
        else:
            _set_transfer_syntax(context, rq_context.transfer_syntax[0])
            context.result = 0x02
        output.append(context)
    return sorted(output, key=lambda x: x.context_id or 0)


def _set_abstract_syntax(context: PresentationContext, value: UID | None) -> None:
    if isinstance(value, UID):
        context._abstract_syntax = value
    else:
        context.abstract_syntax = value


def _set_transfer_syntax(context: PresentationContext, value: str) -> None:
    if isinstance(value, UID):
        context._transfer_syntax = [value]
    else:
        context.transfer_syntax = [value]


def install_fast_negotiation() -> None:
    """Put :func:`negotiate_as_requestor` where pynetdicom's ACSE calls it (idempotent)."""
    acse.negotiate_as_requestor = negotiate_as_requestor  # type: ignore[attr-defined]
