"""The progress comment and check run: rendering, defusing untrusted text, and paced edits."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.markdown import (
    MAX_OUTPUT_BYTES,
    fit,
    format_cost,
    format_duration,
    format_tokens,
    neutralize,
)
from bot.render.pacing import Action, PacedWriter, Pacer
from bot.render.progress import (
    MAX_NOTES_SHOWN,
    MAX_STEPS_SHOWN,
    Note,
    Persona,
    ProgressView,
    Step,
    render_check_run,
    render_progress,
)
from bot.workitem.names import find_progress_marker, progress_marker

ZWJ = "\u200d"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ADA = Persona("Ada", "🧭", "CTO")
BEA = Persona("Bea", "🛠️", "Backend")
CY = Persona("Cy", "🎨", "Frontend")
QUINN = Persona("Quinn", "🔍", "QA")

VIEW = ProgressView(
    repo="octo/app",
    number=42,
    state="implementing",
    started_at=T0,
    now=T0 + timedelta(minutes=6, seconds=12),
    tokens=41_234,
    cost_usd=0.38,
    budget_usd=5.0,
    team=(ADA, BEA, CY, QUINN),
    steps=(
        Step("Triage", True, "Ada asked 2 questions, @maintainer answered"),
        Step("Plan approved by @maintainer", True),
        Step("Backend: pagination for GET /users", True, "Bea (3 commits)"),
        Step("Frontend: page controls", False, "Cy is editing `web/src/UsersTable.tsx`"),
        Step("QA review"),
        Step("Your approval"),
    ),
    narration=Note(CY, 'wiring the "next page" button to the new `cursor` parameter…'),
    handoff_notes=(Note(BEA, "the API returns `next_cursor`; pages hold 50 rows"),),
    mentions=frozenset({"Maintainer"}),
)

EXPECTED_BODY = """\
<!-- aios:progress item=octo/app#42 -->
🤖 **AIOS** · work item #42 · **implementing** · 6 min · 41k tokens · $0.38 of $5.00

Team: 🧭 Ada (CTO) · 🛠️ Bea (Backend) · 🎨 Cy (Frontend) · 🔍 Quinn (QA)

- ✅ Triage — Ada asked 2 questions, @maintainer answered
- ✅ Plan approved by @maintainer
- ✅ Backend: pagination for GET /users — Bea (3 commits)
- ⏳ Frontend: page controls — Cy is editing `web/src/UsersTable.tsx`
- ⬜ QA review
- ⬜ Your approval

> 🎨 **Cy:** wiring the "next page" button to the new `cursor` parameter…

<details><summary>Handoff notes (1)</summary>

- 🛠️ **Bea:** the API returns `next_cursor`; pages hold 50 rows

</details>
"""


def test_render_progress_is_one_calm_picture() -> None:
    assert render_progress(VIEW) == EXPECTED_BODY


def test_a_failure_shows_the_exact_next_step_and_marks_the_step() -> None:
    body = render_progress(replace(VIEW, state="failed", failure="git push was rejected"))
    assert "> [!WARNING]\n> **Stopped:** git push was rejected\n> Next step: comment " in body
    assert "`/aios retry`" in body
    assert "- ❌ Frontend: page controls" in body
    assert "⏳" not in body
    assert "wiring the" not in body, "a stale narration would contradict the banner"


def test_a_minimal_view_renders_without_empty_sections() -> None:
    view = ProgressView(repo="octo/app", number=1, state="queued", started_at=T0, now=T0)
    body = render_progress(view)
    assert body == (
        "<!-- aios:progress item=octo/app#1 -->\n"
        "🤖 **AIOS** · work item #1 · **queued** · 0 s · 0 tokens · $0.00\n"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "0 s"), (0, "0 s"), (59.9, "59 s"), (60, "1 min"), (372, "6 min"), (3599, "59 min"),
     (3600, "1 h"), (3900, "1 h 5 min"), (86_400, "1 d"), (90_000, "1 d 1 h")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("tokens", "text"),
    [(0, "0"), (999, "999"), (1000, "1.0k"), (4_120, "4.1k"), (41_234, "41k"),
     (999_499, "999k"), (999_999, "1.0M"), (12_345_678, "12.3M")],
)  # fmt: skip
def test_format_tokens(tokens: int, text: str) -> None:
    assert format_tokens(tokens) == text


def test_format_cost() -> None:
    assert format_cost(0.384, None) == "$0.38"
    assert format_cost(0.38, 5) == "$0.38 of $5.00"
    assert format_cost(5.2, 5) == "$5.20 of $5.00 (budget reached)"
    assert format_cost(0.0004, 0.001) == "<$0.01 of <$0.01"
    assert format_cost(0.0, None) == "$0.00"
    assert format_cost(1234.5, None) == "$1,234.50"


# --- the marker --------------------------------------------------------------------------


def test_marker_round_trips() -> None:
    marker = progress_marker("octo-org/my.repo_1", 7)
    assert marker == "<!-- aios:progress item=octo-org/my.repo_1#7 -->"
    assert find_progress_marker(marker + "\nbody") == ("octo-org/my.repo_1", 7)
    assert find_progress_marker(render_progress(VIEW)) == ("octo/app", 42)


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "Thanks! <!-- aios:progress item=octo/app#42 -->",
        " <!-- aios:progress item=octo/app#42 -->",
        "<!-- aios:progress item=octo/app#0 -->",
        "<!-- aios:progress item=octo#42 -->",
        "<!-- aios:item=octo/app#42 -->",
    ],
)
def test_find_marker_only_reads_a_marker_opening_the_body(body: str | None) -> None:
    assert find_progress_marker(body) is None


@pytest.mark.parametrize(
    ("repo", "number"),
    [("octo/app -->", 1), ("octo", 1), ("octo/app", 0), ("octo/app", True), ("/app", 3)],
)
def test_progress_marker_refuses_what_would_break_it(repo: str, number: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        progress_marker(repo, number)


# --- untrusted text ----------------------------------------------------------------------


def test_neutralize_defuses_html_mentions_and_markup() -> None:
    text = "<!-- x --> <img src=x onerror=alert(1)> @evil @org/team **b** [l](javascript:x) & ~s~"
    out = neutralize(text)
    assert "<" not in out and ">" not in out.replace("&gt;", "")
    assert "&lt;!-- x --&gt;" in out
    assert f"@{ZWJ}evil" in out and f"@{ZWJ}org/team" in out
    assert r"\*\*b\*\*" in out and r"\[l\]" in out and r"\~s\~" in out
    assert "&amp;" in out


def test_neutralize_keeps_allowed_mentions_only() -> None:
    out = neutralize("@Maintainer and @maintainer/team and @someone", mentions={"maintainer"})
    assert out == f"@Maintainer and @{ZWJ}maintainer/team and @{ZWJ}someone"


def test_neutralize_flattens_layout_and_invisible_controls() -> None:
    out = neutralize("line one\n# heading\n- [x] fake\r\n> quote\u202egnp.exe\x00")
    assert "\n" not in out and "\r" not in out
    assert "\u202e" not in out and "\x00" not in out
    assert out.startswith("line one # heading - \\[x\\] fake &gt; quote")


def test_neutralize_keeps_code_spans_but_refences_them() -> None:
    assert neutralize("edit `a_b.py` now") == "edit `a_b.py` now"
    assert neutralize("``a`b`` then *x*") == r"``a`b`` then \*x\*"
    # An unmatched backtick is text: escaped, so it cannot open a span later on.
    assert neutralize("it`s <b>") == r"it\`s &lt;b&gt;"
    assert neutralize("`<!-- aios:progress item=o/r#1 -->`").count("<!--") == 0


def test_neutralize_caps_length_before_escaping() -> None:
    out = neutralize("&" * 500, limit=10)
    assert out == "&amp;" * 9 + "…"


def test_untrusted_text_cannot_fake_a_marker_or_structure() -> None:
    evil = "<!-- aios:progress item=octo/app#99 -->\n</details>\n- ✅ Your approval\n@everyone"
    view = replace(
        VIEW,
        state=evil,
        steps=(Step(evil, False, evil),),
        narration=Note(Persona(evil, evil, evil), evil),
        handoff_notes=(Note(None, evil),),
        failure=evil,
    )
    for body in (render_progress(view), *render_check_run(view).values()):
        assert body.count("<!--") <= 1
        assert body.count("<details>") == body.count("</details>") <= 1
        assert "@everyone" not in body
        assert "\n- ✅" not in body
    assert find_progress_marker(render_progress(view)) == ("octo/app", 42)


def code_spans_and_text(markdown: str) -> tuple[list[str], str]:
    """Split one line of Markdown as CommonMark does for escapes and code spans (no HTML)."""
    spans, text, i = [], [], 0
    while i < len(markdown):
        char = markdown[i]
        if char == "\\" and i + 1 < len(markdown) and markdown[i + 1] in PUNCTUATION:
            text.append(markdown[i : i + 2])
            i += 2
            continue
        if char == "`":
            run = re.match(r"`+", markdown[i:])[0]
            closer = re.compile(rf"(?<!`){run}(?!`)")
            end = closer.search(markdown, i + len(run))
            if end:
                spans.append(markdown[i + len(run) : end.start()])
                text.append("\x00")  # where the span was
                i = end.end()
                continue
            text.append(run)
            i += len(run)
            continue
        text.append(char)
        i += 1
    return spans, "".join(text)


PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@given(st.text(alphabet=st.sampled_from("ab @<>!-`\\*_[]&$~|\n/#é\u202e"), max_size=60))
@settings(max_examples=400)
def test_neutralized_text_is_inert_markdown(text: str) -> None:
    out = neutralize(text, mentions={"ok"})
    assert "\n" not in out and "\u202e" not in out
    spans, plain = code_spans_and_text(out)
    assert all("<!--" not in span for span in spans)
    bare = re.sub(r"\\.", " ", plain)
    assert not set(bare) & set("<>*_[]~|$`\\"), out
    assert not re.search(r"@(?!ok\b)[A-Za-z0-9]", bare), out


@given(
    st.lists(st.text(max_size=300), max_size=5),
    st.text(max_size=2000),
)
@settings(max_examples=60, deadline=None)
def test_any_text_renders_with_the_marker_first(titles: list[str], note: str) -> None:
    view = replace(
        VIEW,
        steps=tuple(Step(t, i % 2 == 0, t) for i, t in enumerate(titles)),
        narration=Note(CY, note),
        handoff_notes=(Note(BEA, note),),
    )
    body = render_progress(view)
    assert find_progress_marker(body) == ("octo/app", 42)
    assert body.count("<!--") == 1
    assert body.count("<details>") == body.count("</details>") == 1


# --- size limits -------------------------------------------------------------------------


def test_huge_views_fit_githubs_limits() -> None:
    blob = "&<" * 5000
    view = replace(
        VIEW,
        steps=tuple(Step(f"step {i} {blob}", False, blob) for i in range(1000)),
        narration=Note(CY, blob),
        handoff_notes=tuple(Note(BEA, f"note {i} {blob}") for i in range(500)),
        failure=blob,
    )
    body = render_progress(view)
    output = render_check_run(view)
    for text in (body, output["summary"], output["text"]):
        assert len(text.encode()) <= MAX_OUTPUT_BYTES
        assert text.count("<details>") == text.count("</details>")
    assert find_progress_marker(body) == ("octo/app", 42)
    assert f"- … and {1000 - MAX_STEPS_SHOWN} more steps" in body
    assert f"{500 - MAX_NOTES_SHOWN} earlier notes left out" in body
    assert "Handoff notes (500)" in body


def test_fit_cuts_at_a_line_and_closes_details() -> None:
    markdown = "head\n\n<details><summary>s</summary>\n\n" + "\n".join(["- line " * 20] * 2000)
    cut = fit(markdown, limit=5000)
    assert len(cut.encode()) <= 5000
    assert cut.startswith("head\n")
    assert cut.endswith("</details>\n\n…(truncated)\n")
    assert all(line in ("", "head", "</details>", "…(truncated)", "<details><summary>s</summary>")
               or line == ("- line " * 20) for line in cut.split("\n"))  # fmt: skip
    assert fit("short") == "short"


def test_render_check_run_is_an_output_object() -> None:
    output = render_check_run(VIEW)
    assert set(output) == {"title", "summary", "text"}
    assert output["title"] == "implementing · 3 of 6 steps"
    assert output["summary"].startswith("🤖 **AIOS** · work item #42 · **implementing**")
    assert "> 🎨 **Cy:** wiring" in output["summary"]
    assert "<!--" not in output["summary"]
    assert output["text"].startswith("Team: 🧭 Ada (CTO)")
    assert "- ⏳ Frontend: page controls" in output["text"]
    failed = render_check_run(replace(VIEW, failure="tests failed"))
    assert "**Stopped:** tests failed" in failed["summary"]
    assert "`/aios retry`" in failed["summary"]


# --- pacing, pure ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_offer_writes_then_later_ones_wait_for_the_slot() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, min_interval_s=3)
    first = pacer.offer("a")
    assert (first.action, first.body, first.at) == (Action.WRITE, "a", 0.0)
    assert pacer.in_flight == "a"
    pacer.written("a")
    assert pacer.in_flight is None
    clock.now = 1
    second = pacer.offer("b")
    assert (second.action, second.at, second.superseded) == (Action.SCHEDULE, 3.0, False)
    clock.now = 2
    third = pacer.offer("c")
    assert (third.action, third.at, third.superseded) == (Action.SCHEDULE, 3.0, True)
    assert pacer.poll().action is Action.SCHEDULE
    clock.now = 3
    due = pacer.poll()
    assert (due.action, due.body) == (Action.WRITE, "c")
    assert pacer.poll().action is Action.SKIP


def test_first_offer_writes_at_once_on_a_clock_that_moves_between_reads() -> None:
    ticks = iter(range(1, 1000))
    pacer = Pacer(clock=lambda: float(next(ticks)), min_interval_s=3)
    assert pacer.offer("a").action is Action.WRITE


def test_one_write_at_a_time() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, min_interval_s=0)
    assert pacer.offer("a").action is Action.WRITE
    clock.now = 5
    waiting = pacer.offer("b")
    assert (waiting.action, waiting.reason) == (Action.SCHEDULE, "a write is in flight")
    pacer.written("a")
    assert pacer.poll().body == "b"


def test_identical_bodies_are_skipped() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.written(pacer.offer("a").body)
    clock.now = 10
    assert pacer.offer("a").action is Action.SKIP
    clock.now = 11
    assert pacer.offer("b").action is Action.WRITE
    pacer.written("b")
    clock.now = 12
    assert pacer.offer("c").action is Action.SCHEDULE
    back = pacer.offer("b")  # back to what GitHub shows: the pending "c" is dropped
    assert (back.action, back.superseded) == (Action.SKIP, True)
    assert pacer.pending is None


def test_a_final_body_is_never_lost() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, min_interval_s=3)
    pacer.written(pacer.offer("a").body)
    clock.now = 1
    assert pacer.offer("done", final=True).action is Action.SCHEDULE
    late = pacer.offer("late narration")
    assert late.action is Action.SKIP
    assert pacer.pending == "done"
    clock.now = 3
    assert pacer.poll().body == "done"
    pacer.written("done")
    assert pacer.offer("later still").action is Action.SKIP
    clock.now = 10
    assert pacer.offer("failed after all", final=True).body == "failed after all"


def test_a_failed_write_is_pending_again() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, min_interval_s=3)
    assert pacer.offer("a").action is Action.WRITE
    pacer.failed("a")
    assert (pacer.pending, pacer.in_flight) == ("a", None)
    assert pacer.offer("a").action is Action.SCHEDULE, "failed, so not skipped as identical"
    clock.now = 3
    assert pacer.poll().body == "a"
    clock.now = 4
    pacer.offer("b")
    pacer.failed("a")  # the failed write's body must not replace the newer one
    assert pacer.pending == "b"


def test_min_interval_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="min_interval_s must be 0 or more"):
        Pacer(clock=Clock(), min_interval_s=-1)


def test_hundred_updates_in_ten_seconds_make_a_handful_of_edits_pure() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, min_interval_s=3)
    written: list[tuple[float, str]] = []
    wake: float | None = None

    def handle(decision_time: float) -> None:
        nonlocal wake
        clock.now = decision_time
        decision = pacer.poll()
        if decision.action is Action.WRITE:
            written.append((clock.now, decision.body))
            pacer.written(decision.body)
            decision = pacer.poll()
        wake = decision.at if decision.action is Action.SCHEDULE else None

    for i in range(100):
        if wake is not None and wake <= i * 0.1:
            handle(wake)
        clock.now = i * 0.1
        decision = pacer.offer(f"update {i}", final=i == 99)
        if decision.action is Action.WRITE:
            written.append((clock.now, decision.body))
            pacer.written(decision.body)
        elif decision.action is Action.SCHEDULE:
            wake = decision.at
    while wake is not None:
        handle(wake)

    assert len(written) <= 5
    assert written[0] == (0.0, "update 0")
    assert written[-1][1] == "update 99"
    assert all(b[0] - a[0] >= 3 for a, b in itertools.pairwise(written))


# --- pacing, driven by asyncio with a fake clock -----------------------------------------


class FakeTime:
    """A clock and a sleep that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, self._seq, future))
        self._seq += 1
        await future

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)

    async def advance_to(self, when: float, writer: PacedWriter) -> None:
        while self._sleepers and self._sleepers[0][0] <= when:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            future.set_result(None)
            await settle(writer, self)
        self.now = max(self.now, when)


async def settle(writer: PacedWriter, fake: FakeTime) -> None:
    """Let the writer's task run until it is done or asleep again (bounded, no real time)."""
    for _ in range(1000):
        await asyncio.sleep(0)
        if writer.idle or fake.sleeping:
            return
    raise AssertionError("the writer neither finished nor went to sleep")


async def finish(writer: PacedWriter, fake: FakeTime, body: str) -> None:
    task = asyncio.create_task(writer.finish(body))
    for _ in range(100):
        await settle(writer, fake)
        if task.done():
            break
        await fake.advance_to(fake.now + 0.5, writer)
    await task


async def test_paced_writer_coalesces_a_hundred_updates_into_a_handful() -> None:
    fake = FakeTime()
    written: list[tuple[float, str]] = []

    async def write(body: str) -> None:
        written.append((fake.now, body))

    writer = PacedWriter(write, clock=fake.clock, sleep=fake.sleep, min_interval_s=3)
    for i in range(100):
        await fake.advance_to(i * 0.1, writer)
        writer.update(f"update {i}")
        await settle(writer, fake)
    await finish(writer, fake, "final picture")

    assert len(written) <= 5
    assert written[0] == (0.0, "update 0")
    assert written[-1][1] == "final picture"
    assert all(b[0] - a[0] >= 3 for a, b in itertools.pairwise(written))
    assert writer.writes == len(written)
    assert writer.idle


async def test_paced_writer_retries_after_a_failed_write() -> None:
    fake = FakeTime()
    written: list[str] = []
    failures = [RuntimeError("GitHub said 502")]

    async def write(body: str) -> None:
        if failures:
            raise failures.pop()
        written.append(body)

    writer = PacedWriter(write, clock=fake.clock, sleep=fake.sleep, min_interval_s=3)
    writer.update("one")
    await settle(writer, fake)
    assert written == [] and writer.pacer.pending == "one"
    await fake.advance_to(5, writer)
    writer.update("two")
    await settle(writer, fake)
    await finish(writer, fake, "three")
    assert written == ["two", "three"]


async def test_finish_raises_when_the_final_body_cannot_be_written() -> None:
    fake = FakeTime()

    async def write(body: str) -> None:
        raise RuntimeError("comment deleted")

    writer = PacedWriter(write, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(RuntimeError, match="comment deleted"):
        await finish(writer, fake, "final")
    assert writer.pacer.pending == "final"


async def test_aclose_drops_what_is_pending() -> None:
    fake = FakeTime()
    written: list[str] = []

    async def write(body: str) -> None:
        written.append(body)

    writer = PacedWriter(write, clock=fake.clock, sleep=fake.sleep)
    writer.update("a")
    await settle(writer, fake)
    writer.update("b")
    await settle(writer, fake)
    assert fake.sleeping == 1
    await writer.aclose()
    assert writer.idle
    assert written == ["a"]


def test_the_default_interval_matches_the_repo_config_default() -> None:
    from bot.config.model import RepoConfig
    from bot.render.pacing import DEFAULT_MIN_INTERVAL_S

    assert RepoConfig().progress.min_edit_interval_s == DEFAULT_MIN_INTERVAL_S
