"""pyproject's filterwarnings: a DeprecationWarning raised from eventpipe's code fails the test that meets it; one
raised inside a dependency is shown in the summary, not ignored and not an error."""

from __future__ import annotations

import warnings

import pytest


def warn_from(module: str) -> None:
    # As a deprecated API warns with stacklevel=2: attributed to the module that called it.
    warnings.warn_explicit("old API", DeprecationWarning, f"{module.replace('.', '/')}.py", 1, module=module)


def test_a_deprecation_from_our_code_is_an_error():
    with pytest.raises(DeprecationWarning, match="old API"):
        warn_from("eventpipe.warehouse.connections")


def test_a_deprecation_from_a_dependency_is_shown():
    with warnings.catch_warnings(record=True) as caught:
        # catch_warnings keeps pytest's filters; record=True only collects what they let through.
        warn_from("airflow.models.dagrun")
    assert [str(w.message) for w in caught] == ["old API"]
