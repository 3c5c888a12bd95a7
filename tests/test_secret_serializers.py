"""No secret in what serializers reach of the providers (issue 14, finding 4).

Python 3.11 gave every object a ``__getstate__`` that returns its slots, and serializers such as
jsonpickle call it: 0.4.1's ``Secret.__getstate__()`` returned the value. Here pickle (every
protocol), ``copy``, ``vars()``, ``__getstate__``, ``__reduce_ex__(2)``, ``__reduce__`` and a walk
of every state reachable through ``__getstate__`` (what jsonpickle-like serializers do) run on
the providers with their credential loaded, their cache entries, requests, exchanges and chains,
and on ``Secret`` itself. Each result, or each refusal formatted as a reporter would
(:func:`tests.test_secret_in_errors.exposure`, locals included), is searched for the secrets in
every encoding.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from providers import (
    IdentityExchange,
    JwtFileProvider,
    PasswordProvider,
    ProviderChain,
    SamlFileProvider,
    Secret,
)
from tests.conftest import AUDIENCE, make_jwt
from tests.leak_search import find_leaks
from tests.secret_exposure import (
    PASSWORD,
    SAML_MARKER,
    TARGET,
    assertion_file,
    exposure,
    marked_assertion,
    outcome,
    token_file,
)


def holders(tmp_path: Path) -> dict[str, tuple[object, list[str | bytes]]]:
    """Objects that hold a secret, loaded for real, and the secrets they hold."""
    token = make_jwt()
    jwt_provider = JwtFileProvider(token_file(tmp_path, token), audience=AUDIENCE)
    jwt_exchange = jwt_provider.negotiate(TARGET)
    saml_provider = SamlFileProvider(assertion_file(tmp_path, marked_assertion()))
    saml_exchange = saml_provider.negotiate(TARGET)
    password = PasswordProvider("alice", PASSWORD)
    return {
        "Secret": (Secret(PASSWORD), [PASSWORD]),
        "PasswordProvider": (password, [PASSWORD]),
        "password exchange": (password.negotiate(TARGET), [PASSWORD]),
        "JwtFileProvider (token cached)": (jwt_provider, [token, token.split(".")[2]]),
        "JWT exchange": (jwt_exchange, [token, token.split(".")[2]]),
        "JWT request": (jwt_exchange.request, [token, token.split(".")[2]]),
        "JWT file cache entry": (jwt_provider._file.cached, [token, token.split(".")[2]]),
        "SamlFileProvider (assertion cached)": (saml_provider, [SAML_MARKER]),
        "SAML file cache entry": (saml_provider._file.cached, [SAML_MARKER]),
        "SAML exchange": (saml_exchange, [SAML_MARKER]),
        "ProviderChain": (ProviderChain([password, jwt_provider]), [PASSWORD, token]),
    }


def reachable_state(root: object) -> str:
    """Every value a state-walking serializer (jsonpickle and the like) reaches from ``root``:
    containers are walked, other objects through ``__getstate__`` (and ``vars``) until one
    refuses; leaves are shown with ``repr``."""
    shown: list[str] = []
    pending, seen = [root], set()
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, str | bytes | bytearray | int | float | bool | type(None)):
            shown.append(repr(value))
        elif isinstance(value, dict):
            pending += [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple | set | frozenset):
            pending += list(value)
        else:
            shown.append(repr(value))
            try:
                pending.append(value.__getstate__())
            except Exception:  # refused (Secret), or not callable that way (a class)
                continue
            pending.append(getattr(value, "__dict__", None))
    return "\n".join(shown)


def serializations(obj: object) -> Iterator[tuple[str, Callable[[], object]]]:
    yield "repr", lambda: repr(obj)
    yield "str", lambda: str(obj)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        yield f"pickle {protocol}", lambda: pickle.dumps(obj, protocol)  # noqa: B023
    yield "copy.copy", lambda: copy.copy(obj)
    yield "copy.deepcopy", lambda: copy.deepcopy(obj)
    yield "vars", lambda: vars(obj)
    yield "__getstate__", lambda: obj.__getstate__()
    yield "__reduce_ex__(2)", lambda: obj.__reduce_ex__(2)
    yield "__reduce__", lambda: obj.__reduce__()
    yield "state walk", lambda: reachable_state(obj)


def _shown(result: object) -> str:
    if isinstance(result, BaseException):  # refused: the refusal must not quote the value either
        assert isinstance(result, TypeError | pickle.PicklingError), repr(result)
        return exposure(result)
    if isinstance(result, bytes):  # a pickle
        return result.decode("latin-1")
    return reachable_state(result)


def test_no_secret_in_any_serialization(tmp_path: Path) -> None:
    for name, (obj, secrets) in holders(tmp_path).items():
        for operation, run in serializations(obj):
            shown = _shown(outcome(run))
            assert find_leaks(shown, secrets) == [], f"{name}: {operation}"


def test_secret_refuses_every_way_out() -> None:
    secret = Secret(PASSWORD)
    for operation, run in serializations(secret):
        if operation in ("repr", "str", "state walk", "vars"):
            continue
        with pytest.raises(TypeError, match="cannot be pickled, copied or serialized"):
            run()
    assert reachable_state(secret) == "Secret('**********')"
    with pytest.raises(TypeError):
        vars(secret)  # no __dict__: the value lives in a slot that only reveal() reads


def test_a_provider_still_copies_shallowly_and_shows_no_value() -> None:
    """A shallow copy shares the Secret (nothing is serialized); a deep copy is refused."""
    provider = PasswordProvider("alice", PASSWORD)
    twin = copy.copy(provider)
    assert twin._password is provider._password
    assert vars(provider)["_password"] == Secret(PASSWORD)
    assert "Secret('**********')" in repr(vars(provider))
    with pytest.raises(TypeError, match="cannot be pickled, copied or serialized"):
        copy.deepcopy(provider)


def test_exchange_repr_and_state_hold_no_assertion(tmp_path: Path) -> None:
    exchange = SamlFileProvider(assertion_file(tmp_path, marked_assertion())).negotiate(TARGET)
    assert isinstance(exchange, IdentityExchange)
    assert find_leaks(reachable_state(exchange) + repr(exchange), [SAML_MARKER]) == []
