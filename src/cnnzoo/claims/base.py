"""The pieces every claim is made of: the claim itself, what its experiment measured, its verdict.

A claim is a sentence the lineage is taught with, in this project's own words, plus
- an experiment: a function of the mode ("tiny" for the test suite, "quick" for `cnnzoo claims`,
  "full" for `cnnzoo claims --full`) that runs cnnzoo's own models and returns a `Measured`;
- a judge: a pure function of the measured values (a plain dict of numbers) that returns the
  `Verdict`. Keeping it apart from the experiment lets the tests give it hand-made values and see
  both outcomes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownNameError, close_matches

HOLDS = "holds"
CORRECTED = "holds with a correction"
FAILS = "does not hold"
UNCHECKABLE = "not checkable here"
# the experiment ran, but its spread over seeds (or its schedule) cannot decide the statement:
# the verdict would flip within the seed spread, or the networks did not train at all
NOT_RESOLVED = "not resolved at this scale"
NOT_OBSERVED = "not observed"  # the effect the statement names did not occur on either side (0 vs 0)
VERDICTS = (HOLDS, CORRECTED, FAILS, NOT_RESOLVED, NOT_OBSERVED, UNCHECKABLE)
NOT_RUN = "not run"  # a report's entry for a claim this run did not measure (never a judge's verdict)

# From weakest to strongest: a claim made of several parts is only as strong as its weakest part.
_STRENGTH = (FAILS, NOT_RESOLVED, NOT_OBSERVED, UNCHECKABLE, CORRECTED, HOLDS)

MODES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Verdict:
    """verdict: one of VERDICTS; reason: why, with the numbers; correction: what to say instead
    (only for CORRECTED, and for UNCHECKABLE: what would be needed); part: which part of the
    statement this verdict judges ("" for the whole claim); deciding: the number(s) the rule
    compared, by name; parts: the verdicts of the parts (for a claim with several)."""

    verdict: str
    reason: str
    correction: str = ""
    part: str = ""
    deciding: dict[str, Any] = field(default_factory=dict)
    parts: tuple[Verdict, ...] = ()

    def __post_init__(self) -> None:
        assert self.verdict in VERDICTS, self.verdict
        assert self.verdict not in (CORRECTED, UNCHECKABLE) or self.correction, \
            "a corrected or uncheckable verdict says which correction / what is missing"


def part(name: str, verdict: str, reason: str, correction: str = "", **deciding: Any) -> Verdict:
    """The verdict of one part of a claim, with the number(s) that decided it."""
    return Verdict(verdict, reason, correction, part=name, deciding=deciding)


def combine(parts: list[Verdict]) -> Verdict:
    """One claim's verdict from the verdicts of its parts: the weakest part's verdict (a statement
    with two halves holds only when both do), every part's reason and correction, by part."""
    weakest = min(parts, key=lambda p: _STRENGTH.index(p.verdict)).verdict
    reason = "; ".join(f"{p.part}: {p.verdict} ({p.reason})" for p in parts)
    correction = " ".join(f"{p.part}: {p.correction}" for p in parts if p.correction)
    return Verdict(weakest, reason, correction, parts=tuple(parts))


@dataclass
class Table:
    """A small table for the report (title, column headers, rows of cells)."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


@dataclass
class Measured:
    """What an experiment returns.

    values: the numbers the judge reads (int, float, bool, str or lists of them), by key;
    units: a unit for each value key that has one ("parameters", "%", "steps", "s"...);
    method: what was done, in a few sentences with the settings, for the report's Method part;
    seeds: the random seeds used ([] where nothing is random);
    references: the papers' own numbers, shown beside ours ({label: "value (source)"});
    figures: {name: matplotlib Figure}; the report saves each as PNG and embeds it;
    tables: extra tables for the report.
    """

    values: dict[str, Any]
    units: dict[str, str] = field(default_factory=dict)
    method: str = ""
    seeds: list[int] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)


Experiment = Callable[[str], Measured]
Judge = Callable[[dict[str, Any]], Verdict]


@dataclass(frozen=True)
class Claim:
    number: int
    id: str
    title: str
    statement: str  # the claim, in the project's words
    source: str  # where it is made (paper, section)
    experiment: Experiment
    judge: Judge

    def run(self, mode: str = "quick") -> Measured:
        check_mode(mode)
        return self.experiment(mode)


CLAIMS: dict[str, Claim] = {}


def claim(number: int, id: str, title: str, statement: str, source: str,
          judge: Judge) -> Callable[[Experiment], Experiment]:
    """Register the decorated experiment as claim `id` (unique), judged by `judge`."""
    def register(experiment: Experiment) -> Experiment:
        if id in CLAIMS or any(c.number == number for c in CLAIMS.values()):
            raise ValueError(f"claim {id!r} / number {number} is already registered")
        CLAIMS[id] = Claim(number, id, title, statement, source, experiment, judge)
        return experiment
    return register


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise UnknownNameError(f"unknown mode {mode!r}.{close_matches(mode, MODES)} "
                               f"The modes are: {', '.join(MODES)}.")


def setting(mode: str, **by_mode: Any) -> Any:
    """The value for this mode: setting(mode, tiny=..., quick=..., full=...)."""
    check_mode(mode)
    return by_mode[mode]
