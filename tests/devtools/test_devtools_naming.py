"""`Devtools(workflow_name=...)`: an explicit name names every run that Devtools records.

So `diff_with_previous()` compares consecutive runs of that Devtools even when their
bodies are different functions (a refactor, a v2), and an imported run takes part in
the comparison like a local one.
"""

from __future__ import annotations

from resultflow import Ok, Step, run
from resultflow.devtools import Devtools


async def checkout(step: Step[str]) -> int:
    price = await step(lambda: Ok(40), name="price")
    return price + await step(lambda: Ok(2), name="tax")


async def checkout_v2(step: Step[str]) -> int:
    price = await step(lambda: Ok(40), name="price")
    tax = await step(lambda: Ok(2), name="tax")
    await step(lambda: Ok(None), name="audit")
    return price + tax


async def test_an_explicit_name_wins_over_the_bodys_name_and_runs_are_compared() -> None:
    devtools = Devtools(workflow_name="checkout-flow")
    assert await run(checkout, on_event=devtools.handle_event) == Ok(42)
    assert await run(checkout_v2, on_event=devtools.handle_event) == Ok(42)

    assert [r.name for r in devtools.runs()] == ["checkout-flow", "checkout-flow"]
    diff = devtools.diff_with_previous()
    assert diff is not None
    assert (diff.added, diff.removed) == (("audit",), ())


async def test_an_explicit_name_wins_over_run_name_too() -> None:
    devtools = Devtools(workflow_name="checkout-flow")
    await run(checkout, on_event=devtools.handle_event, name="checkout")
    last = devtools.last_run()
    assert last is not None
    assert last.name == "checkout-flow"


async def test_without_an_explicit_name_runs_of_different_bodies_are_not_compared() -> None:
    devtools = Devtools()
    await run(checkout, on_event=devtools.handle_event)
    await run(checkout_v2, on_event=devtools.handle_event)
    assert [r.name for r in devtools.runs()] == ["checkout", "checkout_v2"]
    assert devtools.diff_with_previous() is None


async def test_an_imported_run_is_diffed_against_a_local_one() -> None:
    elsewhere = Devtools()  # another process, another name for the body
    await run(checkout, on_event=elsewhere.handle_event, name="checkout@prod")
    exported = elsewhere.export_run()

    devtools = Devtools(workflow_name="checkout-flow")
    imported = devtools.import_run(exported)
    assert imported.name == "checkout-flow"
    await run(checkout_v2, on_event=devtools.handle_event)

    diff = devtools.diff_with_previous()
    assert diff is not None
    assert diff.added == ("audit",)


async def test_a_local_run_is_diffed_against_a_later_import() -> None:
    devtools = Devtools()
    await run(checkout, on_event=devtools.handle_event)
    other = Devtools()
    await run(checkout_v2, on_event=other.handle_event, name="checkout")
    devtools.import_run(other.export_run())

    diff = devtools.diff_with_previous()
    assert diff is not None
    assert diff.added == ("audit",)
