"""The SDK's ``negotiate_as_requestor`` gives what pynetdicom's gives (issue 16): every requested
context accepted, rejected or missing from the answer, and every SCP/SCU role combination. Pure
logic, compared on pynetdicom's own objects; the associations of the other tests use it."""

from __future__ import annotations

import itertools

import pytest
from pynetdicom import acse, build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.presentation import negotiate_as_requestor as upstream

from client_sdk._pynetdicom.negotiation import install_fast_negotiation, negotiate_as_requestor

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
ROLE_VALUES = (None, True, False)


def requested() -> list[PresentationContext]:
    contexts = [build_context(uid) for uid in (VERIFICATION, CT, MR)]
    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
    return contexts


def answered(context_id: int, result: int, syntax: str | None) -> PresentationContext:
    context = PresentationContext()
    context.context_id = context_id
    context.result = result
    if syntax is not None:
        context.transfer_syntax = [syntax]
    return context


def described(contexts: list[PresentationContext]) -> list[dict[str, object]]:
    return [dict(vars(context)) for context in contexts]


def test_accepted_rejected_and_missing_contexts() -> None:
    answer = [answered(1, 0x00, IMPLICIT), answered(3, 0x03, None), answered(5, 0x00, EXPLICIT)]
    for ac in (answer, answer[:2], answer[1:], []):
        ours = negotiate_as_requestor(requested(), ac)
        assert described(ours) == described(upstream(requested(), ac))
        assert all(type(cx.abstract_syntax).__name__ == "UID" for cx in ours)
    with pytest.raises(ValueError, match="Requestor contexts are required"):
        negotiate_as_requestor([], answer)


@pytest.mark.parametrize(
    ("rq_scu", "rq_scp", "ac_scu", "ac_scp"), list(itertools.product(ROLE_VALUES, repeat=4))
)
def test_every_role_combination(
    rq_scu: bool | None, rq_scp: bool | None, ac_scu: bool | None, ac_scp: bool | None
) -> None:
    def contexts() -> list[PresentationContext]:
        made = requested()
        made[1].scu_role, made[1].scp_role = rq_scu, rq_scp
        return made

    answer = [answered(1, 0x00, IMPLICIT), answered(3, 0x00, EXPLICIT), answered(5, 0x01, None)]
    roles = {contexts()[1].abstract_syntax: (ac_scu, ac_scp)}
    try:
        expected = described(upstream(contexts(), answer, roles))  # type: ignore[arg-type]
    except Exception as exc:  # an impossible combination: the same error from both
        with pytest.raises(type(exc)):
            negotiate_as_requestor(contexts(), answer, roles)  # type: ignore[arg-type]
        return
    assert described(negotiate_as_requestor(contexts(), answer, roles)) == expected  # type: ignore[arg-type]


def test_installed_where_the_acse_looks_it_up() -> None:
    install_fast_negotiation()
    assert getattr(acse, "negotiate_as_requestor") is negotiate_as_requestor  # noqa: B009
