"""The instructor's guide, ``docs/teaching.md``, generated from the course's own data.

Workshop and course plans take their times from the syllabus (:mod:`coursekit.syllabus`: each
chapter's study minutes, its measured CPU run time and peak memory); the common mistakes per chapter
are what the checkers say to the deliberate wrong answers of :mod:`coursekit.exercises.mistakes`.
``python -m coursekit teaching --out docs/teaching.md`` (``make teaching``) rewrites the file;
``tests/test_teaching.py`` fails when the committed file differs from what this writes now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coursekit.syllabus import CHAPTERS, MEASURED_FILE, Chapter, load_measured

__all__ = ["PLANS", "TEACHING_FILE", "Plan", "teaching_markdown"]

TEACHING_FILE = Path(__file__).resolve().parent.parent / "docs" / "teaching.md"
DAY_START = 9 * 60  # 09:00
BREAK_MINUTES = 15  # between two chapters of a session
LUNCH_MINUTES = 60  # between a day's sessions


@dataclass(frozen=True)
class Plan:
    """A plan: ``units`` are days (each a tuple of sessions, each a tuple of chapter numbers) or,
    with ``weekly``, weeks (each one session)."""

    title: str
    summary: str
    units: tuple[tuple[tuple[str, ...], ...], ...]
    weekly: bool = False


PLANS: tuple[Plan, ...] = (
    Plan(
        "A one-day workshop: from a recurrent network to a pretrained GPT",
        "The spine of the course in one day: the exercise pattern, the RNN and its training loop, "
        "attention, the Transformer, pretraining. The other chapters are reading for afterwards.",
        ((("00", "03", "06"), ("07", "08")),),
    ),
    Plan(
        "A two-day workshop",
        "Day 1 builds the recurrent models from word vectors up; day 2 goes from the GRU through "
        "attention and the Transformer to pretraining. Fine-tuning, cost and bias, and the FAQ "
        "are reading for afterwards.",
        ((("00", "01", "02"), ("03", "04")), (("05", "06"), ("07", "08"))),
    ),
    Plan(
        "A six-week course",
        "One class a week of two chapters, studied in class; each chapter's exercises are the "
        "homework, checked by their checkers before the next class.",
        (
            (("00", "01"),),
            (("02", "03"),),
            (("04", "05"),),
            (("06", "07"),),
            (("08", "09"),),
            (("10", "11"),),
        ),
        weekly=True,
    ),
)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _run(number: str, measured: dict) -> str:
    entry = measured.get(number)
    if entry is None:
        return "not measured"
    seconds = entry.seconds
    return f"{max(5, 5 * round(seconds / 5)):.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _by_number() -> dict[str, Chapter]:
    return {ch.number: ch for ch in CHAPTERS}


def _exercise_counts() -> dict[str, int]:
    from coursekit.exercises.mistakes import checkers

    counts: dict[str, int] = {}
    for name in checkers():
        counts[name[2:4]] = counts.get(name[2:4], 0) + 1
    return counts


def _gaps(plan: Plan) -> list[str]:
    """The prerequisites a plan's chapters build on that it does not teach before them."""
    chapters, seen, lines = _by_number(), set(), []
    for unit in plan.units:
        for session in unit:
            for number in session:
                for need, what in chapters[number].requires:
                    if need not in seen:
                        taught = "later in this plan" if _in(plan, need) else "not in this plan"
                        lines.append(
                            f"- {number} builds on {need} ({what}), {taught}: introduce it in a "
                            "few minutes, or set it as reading before."
                        )
                seen.add(number)
    return lines


def _in(plan: Plan, number: str) -> bool:
    return any(number in session for unit in plan.units for session in unit)


def _plan_section(plan: Plan, measured: dict, exercises: dict[str, int]) -> list[str]:
    chapters = _by_number()
    lines = [f"## {plan.title}", "", plan.summary, ""]
    total = 0
    if plan.weekly:
        lines += [
            "| week | chapters | class time | CPU run (each chapter) | exercises (homework) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for week, (session,) in enumerate(plan.units, 1):
            minutes = sum(chapters[n].study_minutes for n in session)
            total += minutes
            names = "; ".join(f"{n} {chapters[n].title}" for n in session)
            runs = ", ".join(_run(n, measured) for n in session)
            count = sum(exercises.get(n, 0) for n in session)
            lines.append(f"| {week} | {names} | {minutes} min | {runs} | {count} |")
        lines += ["", f"Class time in all: {total} minutes ({total / 60:.1f} hours)."]
    else:
        for day, sessions in enumerate(plan.units, 1):
            if len(plan.units) > 1:
                lines += [f"**Day {day}**", ""]
            lines += [
                "| time | chapter | study | CPU run | exercises |",
                "| --- | --- | --- | --- | --- |",
            ]
            clock = DAY_START
            for s, session in enumerate(sessions):
                if s:
                    lines.append(
                        f"| {_clock(clock)}–{_clock(clock + LUNCH_MINUTES)} | lunch | | | |"
                    )
                    clock += LUNCH_MINUTES
                for c, number in enumerate(session):
                    if c:
                        end = clock + BREAK_MINUTES
                        lines.append(f"| {_clock(clock)}–{_clock(end)} | break | | | |")
                        clock = end
                    ch = chapters[number]
                    end = clock + ch.study_minutes
                    total += ch.study_minutes
                    lines.append(
                        f"| {_clock(clock)}–{_clock(end)} | {number} {ch.title} "
                        f"(`{ch.filename}`) | {ch.study_minutes} min | {_run(number, measured)} "
                        f"| {exercises.get(number, 0)} |"
                    )
                    clock = end
            lines.append("")
        lines.append(f"Teaching time in all: {total} minutes ({total / 60:.1f} hours).")
    left = [ch for ch in CHAPTERS if not _in(plan, ch.number)]
    if left:
        listed = ", ".join(f"{ch.number} ({ch.title}, {ch.study_minutes} min)" for ch in left)
        lines += ["", f"Not in this plan: {listed}."]
    gaps = _gaps(plan)
    if gaps:
        lines += ["", "Prerequisites this plan skips:", "", *gaps]
    return [*lines, ""]


def _prepare_section(machine: dict, measured: dict) -> list[str]:
    chapters = _by_number()
    heaviest = max(measured, key=lambda n: measured[n].peak_mb) if measured else None
    slowest = max(measured, key=lambda n: measured[n].seconds) if measured else None
    total = sum(m.seconds for m in measured.values())
    lines = [
        "## Before a session",
        "",
        "- **Install once, on every machine, while you still have a network**: `make lab` (or "
        "`make env` for the environment alone) builds `.venv/` from the pinned versions; the first "
        "run takes a few minutes. After it everything runs offline: the data ships in `data/` and "
        "is checked by SHA-256 each time it is loaded.",
        "- **Check each machine the day before** with `make doctor`: versions, device, threads "
        "and the bundled data.",
        "- **Learners open the student edition** with `make lab-student` (exercise solutions "
        'removed; each checker reports "not attempted yet" until they answer). `make student` '
        "writes it to `student/` to hand out.",
        "- **Your solutions**: `make solutions` writes one Markdown file per chapter to "
        "`solutions/` (git-ignored): each exercise's statement, the reference solution and what "
        "its checker prints when it passes.",
        "- **The chapters come executed**: the committed notebooks carry their outputs and "
        "figures, so a learner can read every result before running anything.",
    ]
    if measured:
        lines.append(
            f"  Running one top to bottom takes at most {_run(slowest, measured)} "
            f"({slowest} {chapters[slowest].title}) with {machine.get('threads', '?')} CPU threads; "
            f"`make notebooks` re-executes all of them in about {total / 60:.0f} minutes "
            f"(measured on {machine.get('date', '?')})."
        )
    lines += [
        "- **A shared server** (JupyterHub, one classroom machine): set `COURSEKIT_SHARED=1` in "
        "the environment that starts Jupyter, so that each kernel takes one CPU thread and waits "
        'passively (README, "On a GPU"); without it, kernels beside each other can run many '
        "times slower. The run times here were measured with "
        f"{machine.get('threads', '?')} threads, so one-thread kernels take longer.",
    ]
    if heaviest:
        lines.append(
            f"  Memory: a kernel peaks at up to {measured[heaviest].peak_mb / 1024:.1f} GB "
            f"({heaviest} {chapters[heaviest].title}); plan on that much per learner running "
            "at the same time."
        )
    lines += [
        "- **No browser to install**: Chromium is only for the course's own browser test "
        "(`make browser-test`); teaching needs none.",
        "- **Colab as a fallback**: every chapter's *Open in Colab* badge runs it there (needs a "
        "network).",
        "- **A GPU is optional**: the chapters find CUDA or MPS and say when they choose larger "
        "settings; the times below are for CPUs.",
        "",
    ]
    return lines


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")


def _mistakes_section() -> list[str]:
    from coursekit.exercises.mistakes import chapter_mistakes

    lines = [
        "## Common learner mistakes, per chapter",
        "",
        "What each checker answers to the usual wrong answers of its exercise, in its own words: "
        "generated by running every checker on the deliberate wrong answers in "
        "`coursekit/exercises/mistakes.py` (the ones `tests/test_exercises_feedback.py` runs). "
        "They are the mistakes the checkers were written to recognise; the course has no "
        "record of how often learners make each.",
        "",
    ]
    for ch in CHAPTERS:
        found = chapter_mistakes(ch.number)
        if not found:
            continue
        lines += [f"### {ch.number} · {ch.title}", ""]
        title = None
        for exercise, what, message in found:
            if exercise != title:
                if title is not None:
                    lines.append("")
                lines += [f"**{_escape(exercise)}**", ""]
                title = exercise
            lines.append(f"- *{_escape(what)}*: {_escape(message)}")
        lines.append("")
    return lines


def teaching_markdown(measured_file: str | Path = MEASURED_FILE) -> str:
    """The whole of ``docs/teaching.md``."""
    machine, measured = load_measured(measured_file)
    exercises = _exercise_counts()
    lines = [
        "# Teaching with the course",
        "",
        "<!-- generated by `python -m coursekit teaching --out docs/teaching.md` (`make "
        "teaching`) from coursekit/syllabus.py, coursekit/syllabus_measured.json and the "
        "exercise checkers; tests/test_teaching.py fails when it is stale. Do not edit by hand. -->",
        "",
        "Plans for a one-day workshop, a two-day workshop and a six-week course; what to prepare; "
        "and the mistakes learners make in each chapter's exercises, as the checkers name them. "
        "*Study* is the syllabus's study time for a chapter (reading, running, the exercises); "
        "*CPU run* is the measured time of one top-to-bottom run "
        f"({machine.get('threads', '?')} CPU threads, {machine.get('cpu', 'an unrecorded CPU')}, "
        f"{machine.get('date', 'not measured')}), which fits inside the study time. Sessions "
        f"start at {_clock(DAY_START)}, with a {BREAK_MINUTES}-minute break between chapters "
        f"and {LUNCH_MINUTES} minutes for lunch.",
        "",
    ]
    lines += _prepare_section(machine, measured)
    for plan in PLANS:
        lines += _plan_section(plan, measured, exercises)
    lines += _mistakes_section()
    return "\n".join(lines).rstrip("\n") + "\n"
