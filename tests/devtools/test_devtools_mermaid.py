"""render_mermaid: structure, label escaping, and validity under Mermaid's real parser.

The real-parser tests run `tests/devtools/mermaid_parse/parse.mjs` (mermaid + jsdom on
node). They need `npm ci --prefix tests/devtools/mermaid_parse`; without node or those
packages they skip with that reason, unless RESULTFLOW_REQUIRE_MERMAID=1 makes the
absence a failure.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from resultflow.devtools import Devtools, mermaid_label, record_run, render_mermaid
from resultflow.devtools._records import RunRecord, ScopeRecord, StepRecord
from resultflow.events import ScopeEnded, ScopeStarted, StepCacheHit, StepSkipped, WorkflowEvent

ParseAll = Callable[[list[str]], list[dict[str, object]]]

_NODE_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<id>[A-Za-z][A-Za-z0-9_]*)"
    r'(?P<open>\(\[|\[\(|\[|\()"(?P<label>[^"]*)"(?P<close>\]\)|\)\]|\]|\))$'
)
_SUBGRAPH_LINE = re.compile(r'^\s*subgraph (?P<id>[A-Za-z][A-Za-z0-9_]*)\["(?P<label>[^"]*)"\]$')
_EDGE_LINE = re.compile(r"^\s*(?P<a>[A-Za-z][A-Za-z0-9_]*) --> (?P<b>[A-Za-z][A-Za-z0-9_]*)$")
_CLASSDEF_LINE = re.compile(r"^\s*classDef (?P<name>[a-z]+) [a-z#0-9:,.\- ]+$")
_CLASS_LINE = re.compile(r"^\s*class (?P<ids>[A-Za-z0-9_,]+) (?P<name>[a-z]+)$")
_ENTITY = re.compile(r"#\d+;")


class Structure:
    """What a rendered flowchart declares, read back by a strict line grammar."""

    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        assert lines[0] == "flowchart TD", lines[0]
        self.nodes: dict[str, str] = {}
        self.subgraphs: dict[str, str] = {}
        self.parents: dict[str, str | None] = {}
        self.edges: list[tuple[str, str]] = []
        self.class_defs: set[str] = set()
        self.classes: dict[str, str] = {}
        self.shapes: dict[str, str] = {}
        stack: list[str] = []
        for line in lines[1:]:
            if match := _NODE_LINE.match(line):
                self._declare(match["id"], match["label"], stack)
                self.nodes[match["id"]] = match["label"]
                self.shapes[match["id"]] = match["open"] + match["close"]
            elif match := _SUBGRAPH_LINE.match(line):
                self._declare(match["id"], match["label"], stack)
                self.subgraphs[match["id"]] = match["label"]
                stack.append(match["id"])
            elif line.strip() == "end":
                assert stack, "an `end` without an open subgraph"
                stack.pop()
            elif match := _EDGE_LINE.match(line):
                self.edges.append((match["a"], match["b"]))
            elif match := _CLASSDEF_LINE.match(line):
                self.class_defs.add(match["name"])
            elif match := _CLASS_LINE.match(line):
                for node_id in match["ids"].split(","):
                    assert node_id not in self.classes, f"{node_id} classed twice"
                    self.classes[node_id] = match["name"]
            else:
                raise AssertionError(f"line outside the flowchart grammar: {line!r}")
        assert not stack, f"unclosed subgraphs: {stack}"
        declared = set(self.nodes) | set(self.subgraphs)
        for a, b in self.edges:
            assert a in declared and b in declared, (a, b)
        assert set(self.classes) <= declared
        assert set(self.classes.values()) <= self.class_defs

    def _declare(self, node_id: str, label: str, stack: list[str]) -> None:
        assert node_id not in self.nodes and node_id not in self.subgraphs, node_id
        _assert_safe_label(label)
        self.parents[node_id] = stack[-1] if stack else None

    def chain(self) -> list[str]:
        """The top-level path from the start node, following edges."""
        following = dict(self.edges)
        path = ["run_start"]
        while path[-1] in following:
            path.append(following[path[-1]])
        return path

    def label_text(self, node_id: str) -> str:
        """A label decoded the way Mermaid shows it (entities resolved, breaks as |)."""
        raw = self.nodes.get(node_id) or self.subgraphs[node_id]
        return _ENTITY.sub(lambda m: chr(int(m.group()[1:-1])), raw).replace("<br/>", " | ")


def _assert_safe_label(label: str) -> None:
    # Line breaks are ours and every `#` starts an entity code; nothing else may be special.
    plain = _ENTITY.sub("", label.replace("<br/>", ""))
    for forbidden in ('"', "<", ">", "`", "\n", "\r", ":", ";", "#"):
        assert forbidden not in plain, (forbidden, label)


# -- structure --------------------------------------------------------------------------
def test_checkout_flowchart_structure(checkout_events: list[WorkflowEvent]) -> None:
    devtools = Devtools()
    for event in checkout_events:
        devtools.handle_event(event)
    diagram = Structure(devtools.render_mermaid())

    # Steps in order, the parallel scope as one subgraph between them, then the end.
    chain = diagram.chain()
    assert [diagram.label_text(n).split(" | ")[0] for n in chain] == [
        "checkout",
        "load-user",
        "charge",
        "price",
        "notify",
        "all fetch (300ms)",
        "failed in 800ms",
    ]
    scope_id = chain[5]
    assert scope_id in diagram.subgraphs
    inside = [n for n, parent in diagram.parents.items() if parent == scope_id]
    assert [diagram.label_text(n) for n in inside] == [
        "user | 200ms",
        "posts | 300ms | PostsNotFound(user_id='7')",
    ]
    # Parallel steps are not chained to each other.
    assert not any(a in inside or b in inside for a, b in diagram.edges)

    by_label = {diagram.label_text(n).split(" | ")[0]: n for n in diagram.nodes}
    assert diagram.classes[by_label["posts"]] == "error"
    assert diagram.classes[scope_id] == "error"
    assert diagram.classes["run_end"] == "error"
    assert diagram.classes[by_label["price"]] == "cached"
    assert diagram.shapes[by_label["price"]] == "[()]"
    assert "cache hit" in diagram.label_text(by_label["price"])
    assert diagram.classes[by_label["notify"]] == "skipped"
    assert diagram.label_text(by_label["notify"]) == "notify | skipped: no email address"
    assert diagram.label_text(by_label["charge"]) == "charge | key charge:7 | 400ms | 2 retries"
    assert diagram.classes[by_label["load-user"]] == "ok"
    assert diagram.class_defs == {"ok", "error", "cached", "skipped"}


def test_empty_scopes_and_empty_history_still_make_valid_flowcharts(event_script: type) -> None:
    s = event_script("wf-e").start("empty")
    s.add(ScopeStarted(workflow_id="wf-e", ts=s.at(0), scope_id="s1", kind="race"))
    s.add(
        ScopeEnded(
            workflow_id="wf-e", ts=s.at(0), scope_id="s1", kind="race", duration_s=0, ok=True
        )
    )
    diagram = Structure(render_mermaid(record_run(s.events)))
    assert diagram.chain() == ["run_start", "n1", "run_end"]
    assert diagram.label_text("n2") == "(no steps)"
    assert diagram.parents["n2"] == "n1"

    assert Structure(Devtools().render_mermaid()).nodes == {"empty": "(no run recorded)"}


def test_mermaid_label_escapes_everything_mermaid_would_read() -> None:
    assert mermaid_label('say "hi" <b>#1</b>; a:b `c` & d') == (
        "say #34;hi#34; #60;b#62;#35;1#60;/b#62;#59; a#58;b #96;c#96; #38; d"
    )
    assert mermaid_label("line1\nline2\r\n\tline3\x00\x1b") == "line1 line2 line3"
    assert (
        mermaid_label("naïve ☕ 日本語 🚀 [x] {y} (z) |w|") == "naïve ☕ 日本語 🚀 [x] {y} (z) |w|"
    )
    assert mermaid_label("x" * 200) == "x" * 77 + "..."


@given(st.text(max_size=60))
def test_any_name_yields_a_grammatical_flowchart(name: str) -> None:
    run = _run_named(name)
    diagram = Structure(render_mermaid(run))
    assert len(diagram.chain()) == 5  # start, step, scope, cached step, end


# -- the real parser ----------------------------------------------------------------------
ADVERSARIAL_NAMES = [
    'say "hi"',
    "a[b]{c}(d)((e))",
    "line1\nline2\r\nline3",
    "naïve ☕ 日本語 🚀 Ωμέγα",
    "end",
    "subgraph",
    "%% not a comment",
    "a --> b",
    "x:::error",
    "#35; &amp; <b>bold</b> <script>alert(1)</script>",
    "`markdown`",
    "style n1 fill:#f00;",
    "classDef ok fill:#fff;",
    "click n1 callback",
    "tab\there",
    "\x00\x1b[31mansi",
    "A|B|C",
    "semi;colon",
    "o",
    "x",
    "graph TD",
    "\\ backslash \\n",
    "y" * 500,
    "",
]


def _run_named(name: str) -> RunRecord:
    """A run whose step, key, scope and error text all carry `name`."""
    return RunRecord(
        workflow_id="wf",
        name=name or None,
        status="error",
        started_at=0.0,
        ended_at=1.0,
        duration_s=1.0,
        error=name,
        nodes=(
            StepRecord(
                step_id="s1",
                name=name or None,
                key=f"key:{name}",
                status="error",
                start_ts=0.0,
                end_ts=0.5,
                duration_s=0.5,
                retries=1,
                error=name,
            ),
            ScopeRecord(scope_id="s2", kind="parallel", name=name, status="error", start_ts=0.5),
            StepRecord(
                step_id="s3", name=name, parent_id="s2", status="skipped", start_ts=0.5, reason=name
            ),
            StepRecord(
                step_id="s4", name=name, parent_id="s2", status="aborted", start_ts=0.5, reason=name
            ),
            StepRecord(
                step_id="s5", name=name, key=name, status="cached", start_ts=1.0, end_ts=1.0
            ),
        ),
    )


def test_real_parser_accepts_every_render_and_rejects_broken_text(
    parse_all: ParseAll,
    checkout_events: list[WorkflowEvent],
    checkout_rerun_events: list[WorkflowEvent],
    event_script: type,
) -> None:
    devtools = Devtools()
    for event in [*checkout_events, *checkout_rerun_events]:
        devtools.handle_event(event)
    texts = [devtools.render_mermaid(run) for run in devtools.runs()]
    texts.append(Devtools().render_mermaid())
    texts += [render_mermaid(_run_named(name)) for name in ADVERSARIAL_NAMES]
    rng = random.Random(20240601)
    alphabet = [chr(c) for c in range(32, 127)] + list("\n\t\u00a0\u2028é日🚀\u200b\ufeff")
    texts += [
        render_mermaid(_run_named("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))))
        for _ in range(40)
    ]
    s = event_script("wf-x").start("skips")
    s.add(StepCacheHit(workflow_id="wf-x", ts=s.at(0), step_id="s1", key="k"))
    s.add(StepSkipped(workflow_id="wf-x", ts=s.at(0), step_id="s2"))
    texts.append(render_mermaid(record_run(s.events)))

    # Controls, so the harness itself can fail: raw brackets, and a node named `end`.
    broken = ["flowchart TD\n  n1[a[b]]", 'flowchart TD\n  n1["x"] --> end']

    *results, broken_first, broken_second = parse_all(texts + broken)

    assert (broken_first["ok"], broken_second["ok"]) == (False, False)
    assert "Parse error" in str(broken_first["error"])
    failures = [
        (text, result) for text, result in zip(texts, results, strict=True) if not result["ok"]
    ]
    assert failures == []
    assert {result["type"] for result in results} == {"flowchart-v2"}
