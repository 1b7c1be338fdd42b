"""Property tests: Result obeys the functor and monad laws (via the reusable law kit)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resultflow.contrib.hypothesis import check_result_laws, errs, oks, results
from resultflow.errors import TaggedError
from resultflow.result import Err, Ok, Result


class LawsTestProblem(TaggedError):
    code: int
    detail: str = ""


FAST = settings(max_examples=30, deadline=None)
problems = st.builds(LawsTestProblem, st.integers(), st.text(max_size=5))


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (st.integers(), st.text()),
        (st.text(max_size=8), problems),
        # Unhashable values and errors: the hashing law is skipped for them.
        (
            st.lists(st.integers(), max_size=4),
            st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2),
        ),
        (st.none(), st.integers()),
        # Results inside Results.
        (results(st.integers(), st.text(max_size=3)), st.booleans()),
    ],
    ids=["int-str", "str-tagged", "unhashable", "none-int", "nested"],
)
def test_result_laws_hold(values: st.SearchStrategy[Any], errors: st.SearchStrategy[Any]) -> None:
    check_result_laws(values, errors, settings=FAST)


def test_law_kit_detects_a_broken_equality() -> None:
    # NaN is not equal to itself, so `Ok(nan).map(identity) == Ok(nan)` fails.
    with pytest.raises(AssertionError, match="Result law"):
        check_result_laws(st.just(float("nan")), st.text(), settings=FAST)


@FAST
@given(results(st.integers(), st.text()))
def test_strategy_draws_results(result: Result[int, str]) -> None:
    assert isinstance(result, Ok | Err)
    if isinstance(result, Ok):
        assert isinstance(result.value, int)
    else:
        assert isinstance(result.error, str)


def test_strategies_draw_both_variants() -> None:
    seen: set[bool] = set()

    @FAST
    @given(results(st.integers(), st.integers()))
    def collect(result: Result[int, int]) -> None:
        seen.add(result.ok)

    collect()
    assert seen == {True, False}


@FAST
@given(oks(st.integers()), errs(st.text(), causes=st.builds(KeyError, st.text())))
def test_oks_and_errs(ok: Ok[int], err: Err[str]) -> None:
    assert ok.ok is True
    assert err.ok is False
    assert isinstance(err.cause, KeyError)


@FAST
@given(
    errs(st.text(), causes=st.builds(ValueError)),
    st.functions(like=lambda e: e, returns=st.integers(), pure=True),
)
def test_map_err_keeps_the_cause(err: Err[str], f: Any) -> None:
    mapped = err.map_err(f)
    assert mapped.cause is err.cause
    assert mapped == Err(f(err.error))


@FAST
@given(results(st.integers(), st.text()))
def test_match_rebuilds_the_result(result: Result[int, str]) -> None:
    rebuilt: Result[int, str] = result.match(ok=Ok, err=Err)
    assert rebuilt == result
    assert result.unwrap_or(0) == (result.value if isinstance(result, Ok) else 0)
