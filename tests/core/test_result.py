"""Behaviour of Ok, Err, Result, is_ok / is_err and UnwrapError."""

from __future__ import annotations

import copy

import pytest

from resultflow.result import Err, Ok, Result, UnwrapError, is_err, is_ok


def double(x: int) -> int:
    return x * 2


def fail(message: str) -> Result[int, str]:
    return Err(message)


def half(x: int) -> Result[int, str]:
    return Ok(x // 2) if x % 2 == 0 else Err(f"{x} is odd")


async def async_double(x: int) -> int:
    return x * 2


async def async_half(x: int) -> Result[int, str]:
    return half(x)


async def async_recover(error: str) -> Result[int, str]:
    return Ok(len(error))


# -- construction, fields, repr -------------------------------------------------------------
def test_ok_holds_value_and_flag() -> None:
    ok = Ok(1)
    assert ok.value == 1
    assert ok.ok is True
    assert Ok.ok is True


def test_err_holds_error_cause_and_flag() -> None:
    exc = KeyError("k")
    err = Err("missing", cause=exc)
    assert err.error == "missing"
    assert err.cause is exc
    assert err.ok is False
    assert Err("x").cause is None


def test_repr() -> None:
    assert repr(Ok(1)) == "Ok(1)"
    assert repr(Err("NOT_FOUND")) == "Err('NOT_FOUND')"
    assert repr(Ok(Err("x"))) == "Ok(Err('x'))"
    assert repr(Err("x", cause=ValueError("hidden"))) == "Err('x')"


def test_match_args_positional_patterns() -> None:
    match Ok(3):
        case Ok(value):
            assert value == 3
        case _:
            pytest.fail("Ok(3) did not match Ok(value)")
    match Err("e"):
        case Ok(_):
            pytest.fail("an Err matched Ok(_)")
        case Err(error):
            assert error == "e"


# -- equality, hashing -----------------------------------------------------------------------
def test_equality_by_value() -> None:
    assert Ok(1) == Ok(1)
    assert Ok(1) != Ok(2)
    assert Err("a") == Err("a")
    assert Err("a") != Err("b")


def test_ok_and_err_never_equal_even_with_same_payload() -> None:
    assert Ok(1) != Err(1)
    assert Err(1) != Ok(1)
    assert Ok(1) != 1
    assert Err("x") != "x"


def test_equality_and_hash_ignore_cause() -> None:
    a = Err("x", cause=ValueError("one"))
    b = Err("x", cause=KeyError("two"))
    assert a == b
    assert hash(a) == hash(b)
    assert hash(a) == hash(Err("x"))


def test_hash_by_value_and_usable_in_sets() -> None:
    assert hash(Ok(1)) == hash(Ok(1))
    assert len({Ok(1), Ok(1), Err(1), Err(1), Ok(2)}) == 3
    assert {Ok("a"): 1}[Ok("a")] == 1


def test_unhashable_value_makes_unhashable_result() -> None:
    with pytest.raises(TypeError):
        hash(Ok([1]))


def test_compare_with_unrelated_types_does_not_raise() -> None:
    assert (Ok(1) == object()) is False
    assert (Err(1) != object()) is True


# -- immutability, truthiness ----------------------------------------------------------------
@pytest.mark.parametrize("result", [Ok(1), Err("e")])
def test_immutable(result: Result[int, str]) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        result.value = 2
    with pytest.raises(AttributeError, match="immutable"):
        result.anything = 2
    with pytest.raises(AttributeError, match="immutable"):
        del result.value


def test_slotted_no_instance_dict() -> None:
    assert not hasattr(Ok(1), "__dict__")
    assert not hasattr(Err(1), "__dict__")


@pytest.mark.parametrize("result", [Ok(1), Ok(0), Err("e")])
def test_bool_raises_with_helpful_message(result: Result[int, str]) -> None:
    with pytest.raises(TypeError) as info:
        bool(result)
    message = str(info.value)
    assert "isinstance" in message
    assert "match" in message
    with pytest.raises(TypeError):
        assert not result


def test_copy_keeps_value_and_cause() -> None:
    exc = ValueError("v")
    err = Err("e", cause=exc)
    assert copy.copy(err) == err
    assert copy.copy(err).cause is exc
    assert copy.deepcopy(Ok([1, 2])) == Ok([1, 2])


# -- narrowing helpers -----------------------------------------------------------------------
def test_is_ok_and_is_err() -> None:
    assert is_ok(Ok(1)) is True
    assert is_ok(Err(1)) is False
    assert is_err(Err(1)) is True
    assert is_err(Ok(1)) is False


# -- transforming ------------------------------------------------------------------------------
def test_map() -> None:
    assert Ok(2).map(double) == Ok(4)
    err: Result[int, str] = Err("e")
    assert err.map(double) is err


def test_map_does_not_call_f_on_err() -> None:
    calls: list[object] = []
    Err("e").map(calls.append)
    assert calls == []


def test_map_err_transforms_error_and_preserves_cause() -> None:
    exc = ValueError("bad")
    mapped = Err("e", cause=exc).map_err(str.upper)
    assert mapped == Err("E")
    assert mapped.cause is exc
    ok = Ok(1)
    assert ok.map_err(str.upper) is ok


def test_and_then() -> None:
    assert Ok(4).and_then(half) == Ok(2)
    assert Ok(3).and_then(half) == Err("3 is odd")
    err = Err("first")
    assert err.and_then(half) is err


def test_and_then_chain_stops_at_first_err() -> None:
    calls: list[int] = []

    def record(x: int) -> Result[int, str]:
        calls.append(x)
        return half(x)

    result = Ok(12).and_then(record).and_then(record).and_then(record)
    assert result == Err("3 is odd")
    assert calls == [12, 6, 3]


def test_or_else() -> None:
    assert Err("abc").or_else(lambda e: Ok(len(e))) == Ok(3)
    assert Err("abc").or_else(fail) == Err("abc")
    ok = Ok(1)
    assert ok.or_else(fail) is ok


def test_tap_and_tap_err() -> None:
    seen: list[object] = []
    ok = Ok(1)
    err = Err("e")
    assert ok.tap(seen.append) is ok
    assert ok.tap_err(seen.append) is ok
    assert err.tap(seen.append) is err
    assert err.tap_err(seen.append) is err
    assert seen == [1, "e"]


# -- async transforming ----------------------------------------------------------------------
async def test_map_async() -> None:
    assert await Ok(2).map_async(async_double) == Ok(4)
    err = Err("e")
    assert await err.map_async(async_double) is err


async def test_map_err_async_keeps_cause() -> None:
    async def upper(error: str) -> str:
        return error.upper()

    exc = KeyError("k")
    mapped = await Err("e", cause=exc).map_err_async(upper)
    assert mapped == Err("E")
    assert mapped.cause is exc
    ok = Ok(1)
    assert await ok.map_err_async(upper) is ok


async def test_and_then_async() -> None:
    assert await Ok(4).and_then_async(async_half) == Ok(2)
    assert await Ok(5).and_then_async(async_half) == Err("5 is odd")
    err = Err("e")
    assert await err.and_then_async(async_half) is err


async def test_or_else_async() -> None:
    assert await Err("four").or_else_async(async_recover) == Ok(4)
    ok = Ok(1)
    assert await ok.or_else_async(async_recover) is ok


async def test_async_methods_do_not_call_f_on_the_other_variant() -> None:
    called = False

    async def boom(_: object) -> Result[int, str]:
        nonlocal called
        called = True
        return Ok(0)

    await Err("e").map_async(boom)
    await Err("e").and_then_async(boom)
    await Ok(1).or_else_async(boom)
    await Ok(1).map_err_async(boom)
    assert called is False


# -- extracting ------------------------------------------------------------------------------
def test_unwrap() -> None:
    assert Ok(1).unwrap() == 1
    err = Err("boom")
    with pytest.raises(UnwrapError, match="unwrap") as info:
        err.unwrap()
    assert info.value.result is err
    assert "boom" in str(info.value)


def test_unwrap_err() -> None:
    assert Err("e").unwrap_err() == "e"
    ok = Ok(7)
    with pytest.raises(UnwrapError, match="unwrap_err") as info:
        ok.unwrap_err()
    assert info.value.result is ok


def test_unwrap_or() -> None:
    assert Ok(1).unwrap_or(0) == 1
    assert Err("e").unwrap_or(0) == 0


def test_unwrap_or_else() -> None:
    assert Ok(1).unwrap_or_else(len) == 1
    assert Err("four").unwrap_or_else(len) == 4


def test_expect() -> None:
    assert Ok(1).expect("needs a value") == 1
    err = Err("e")
    with pytest.raises(UnwrapError) as info:
        err.expect("the config must load")
    assert str(info.value) == "the config must load"
    assert info.value.result is err


def test_unwrap_error_is_an_exception_not_a_tagged_error() -> None:
    assert issubclass(UnwrapError, Exception)


def test_match_method() -> None:
    assert Ok(2).match(ok=double, err=len) == 4
    assert Err("abc").match(ok=double, err=len) == 3


def test_ok_or_none_and_err_or_none() -> None:
    assert Ok(1).ok_or_none() == 1
    assert Ok(1).err_or_none() is None
    assert Err("e").ok_or_none() is None
    assert Err("e").err_or_none() == "e"


def test_results_nest() -> None:
    nested = Ok(Ok(1))
    assert nested.value == Ok(1)
    assert nested.and_then(lambda inner: inner) == Ok(1)
