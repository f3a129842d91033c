"""Pure parsers of the files Abaqus writes while it runs: `.sta` (status), `.msg` (messages) and the input
deck `.inp` (how many steps, and each step's time period).

Abaqus/Standard's `.sta` has one line per increment attempt under a header naming its columns: STEP, INC, ATT
(the attempt; `U` after it marks one that did not converge and was cut back), SEVERE DISCON ITERS, EQUIL ITERS,
TOTAL ITERS, TOTAL TIME/FREQ, STEP TIME/LPF, INC OF TIME/LPF (and, in some versions, DOF MONITOR and IF RIKS).
Abaqus/Explicit's has `STEP n  ORIGIN t` blocks, then one line per reported increment: INCREMENT, STEP TIME,
TOTAL TIME, CPU TIME (h:mm:ss), STABLE INCREMENT, CRITICAL ELEMENT, KINETIC ENERGY, TOTAL ENERGY, with
`ODB Field Frame Number n of m requested intervals` lines between them. Both end with `THE ANALYSIS HAS
COMPLETED SUCCESSFULLY` or `THE ANALYSIS HAS NOT BEEN COMPLETED`. From these come the percent of the step and
of the total, and the increment size.

A step's share of the run is its step time over its time period; the period comes from the `.msg`
(`... TOTAL TIME PERIOD OF p`, or `TIME PERIOD ... p`), or from the `.inp` (the second value of a step's
procedure data line), else Abaqus's default of 1.0. The share of the whole run needs the number of steps,
which only the `.inp` tells: without it, the step's share is the job's percent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.models import Progress

_NUM = rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"
_STANDARD = re.compile(
    rb"^\s*(\d+)\s+(\d+)\s+(\d+)(U?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(" + _NUM + rb")\s+(" + _NUM + rb")\s+(" + _NUM + rb")"
)
_EXPLICIT = re.compile(rb"^\s*(\d+)\s+(" + _NUM + rb")\s+(" + _NUM + rb")\s+(\d+:\d\d:\d\d)\s+(" + _NUM + rb")")
_EXPLICIT_STEP = re.compile(rb"^\s*STEP\s+(\d+)\s+ORIGIN\s+(" + _NUM + rb")")
_FRAME = re.compile(rb"ODB Field Frame Number\s+(\d+)\s+of\s+(\d+)\s+requested intervals")
_MSG_STEP = re.compile(rb"^\s*S T E P\s+(\d+)\b")
_MSG_PERIOD = re.compile(rb"TIME PERIOD(?: OF| FOR THIS STEP)?\s*(?:=\s*)?(" + _NUM + rb")\s*$")
_INP_KEYWORD = re.compile(rb"^\s*\*\s*([A-Za-z][A-Za-z -]*?)\s*(?:,|$)")
COMPLETED = b"THE ANALYSIS HAS COMPLETED SUCCESSFULLY"
NOT_COMPLETED = b"HAS NOT BEEN COMPLETED"
# Procedures whose first data line is `initial increment, time period, ...` (an explicit dynamic step's is
# `, period`): the period is its second value. Linear perturbation steps (frequency, buckle...) have none.
_TIMED = frozenset({b"STATIC", b"DYNAMIC", b"VISCO", b"HEAT TRANSFER", b"SOILS", b"COUPLED TEMPERATURE-DISPLACEMENT",
                    b"COUPLED THERMAL-ELECTRIC", b"MASS DIFFUSION", b"COUPLED THERMAL-ELECTRICAL-STRUCTURAL",
                    b"DYNAMIC TEMPERATURE-DISPLACEMENT", b"GEOSTATIC"})  # fmt: skip
DEFAULT_PERIOD = 1.0


def kind_of(name: str) -> str | None:
    """Which Abaqus file `name` is (`sta`, `msg`, `inp`), or None for any other file."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return suffix if suffix in ("sta", "msg", "inp") else None


def _float(text: bytes) -> float | None:
    try:
        value = float(text.replace(b"D", b"E").replace(b"d", b"e"))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@dataclass(slots=True)
class AbaqusRun:
    """What an Abaqus job's files have said so far. Feed it lines with `sta`, `msg` and `inp`."""

    solver: str | None = None  # "standard" or "explicit", from the `.sta`
    step: int | None = None
    increment: int | None = None
    attempt: int | None = None
    cutbacks: int = 0  # attempts that did not converge (`U`)
    step_time: float | None = None
    total_time: float | None = None
    increment_size: float | None = None  # the last increment's time (Standard) or stable increment (Explicit)
    frames_percent: float | None = None  # Explicit: the share of the step's field frames written
    completed: bool | None = None  # True: completed successfully; False: not completed; None: not said yet
    warnings: int = 0  # from the `.msg`
    errors: int = 0
    periods: dict[int, float] = field(default_factory=dict)  # step -> its time period
    steps: int | None = None  # from the `.inp`
    _msg_step: int | None = None
    _inp_steps: int = 0
    _inp_wants_data: bool = False
    _inp_periods: dict[int, float] = field(default_factory=dict)

    def sta(self, lines: list[bytes]) -> bool:
        """Take `.sta` lines; True when something changed."""
        changed = False
        for line in lines:
            if not line.strip():
                continue
            if COMPLETED in line:
                self.completed, changed = True, True
                continue
            if NOT_COMPLETED in line:
                self.completed, changed = False, True
                continue
            if b"Abaqus/Explicit" in line:
                self.solver = "explicit"
                continue
            if b"Abaqus/Standard" in line:
                self.solver = "standard"
                continue
            first = line.lstrip()[:1]
            if first.isdigit():
                changed = self._data_line(line) or changed
            elif first == b"S" and (m := _EXPLICIT_STEP.match(line)):
                self.solver = "explicit"
                self.step, self.increment, self.step_time = int(m[1]), 0, 0.0
                self.frames_percent = None
                changed = True
            elif b"ODB Field Frame" in line and (m := _FRAME.search(line)) and int(m[2]) > 0:
                self.frames_percent = min(100.0, 100.0 * int(m[1]) / int(m[2]))
                changed = True
        return changed

    def _data_line(self, line: bytes) -> bool:
        if self.solver != "explicit" and (m := _STANDARD.match(line)):
            self.solver = "standard"
            self.step, self.increment, self.attempt = int(m[1]), int(m[2]), int(m[3])
            if m[4]:
                self.cutbacks += 1
            self.total_time, self.step_time, self.increment_size = _float(m[8]), _float(m[9]), _float(m[10])
            return True
        if (m := _EXPLICIT.match(line)) is not None:
            self.solver = "explicit"
            self.increment = int(m[1])
            self.step_time, self.total_time, self.increment_size = _float(m[2]), _float(m[3]), _float(m[5])
            self.step = self.step or 1
            return True
        return False

    def msg(self, lines: list[bytes]) -> bool:
        """Take `.msg` lines: warnings and errors are counted, each step's time period noted."""
        changed = False
        for line in lines:
            if b"***" in line:
                if b"***WARNING" in line:
                    self.warnings, changed = self.warnings + 1, True
                elif b"***ERROR" in line:
                    self.errors, changed = self.errors + 1, True
            elif b"S T E P" in line and (m := _MSG_STEP.match(line)):
                self._msg_step = int(m[1])
            elif b"TIME PERIOD" in line and self._msg_step is not None and (m := _MSG_PERIOD.search(line)):
                period = _float(m[1])
                if period and period > 0:
                    self.periods[self._msg_step] = period
                    changed = True
        return changed

    def inp(self, lines: list[bytes]) -> bool:
        """Take input deck lines: the steps and their time periods."""
        changed = False
        for line in lines:
            stripped = line.lstrip()
            if stripped.startswith(b"**"):
                continue  # a comment
            if stripped.startswith(b"*"):
                self._inp_wants_data = False
                m = _INP_KEYWORD.match(line)
                word = m[1].upper() if m else b""
                if word == b"STEP":
                    self._inp_steps += 1
                    self.steps, changed = self._inp_steps, True
                elif word in _TIMED and self._inp_steps:
                    self._inp_wants_data = True
            elif self._inp_wants_data and stripped.strip():
                self._inp_wants_data = False
                values = stripped.split(b",")
                period = _float(values[1].strip()) if len(values) > 1 and values[1].strip() else None
                if period and period > 0:
                    self._inp_periods[self._inp_steps] = period
                    changed = True
        return changed

    def period(self, step: int) -> float:
        return self.periods.get(step) or self._inp_periods.get(step) or DEFAULT_PERIOD

    @property
    def step_percent(self) -> float | None:
        if self.step is None or self.step_time is None:
            return self.frames_percent
        return max(0.0, min(100.0, 100.0 * self.step_time / self.period(self.step)))

    @property
    def total_percent(self) -> float | None:
        """Share of the whole run: by time when every step's period is known, else by steps."""
        if self.completed:
            return 100.0
        step, within = self.step, self.step_percent
        if not self.steps or step is None or within is None:
            return None
        periods = [self.period(s) for s in range(1, self.steps + 1)]
        known = all(s in self.periods or s in self._inp_periods for s in range(1, self.steps + 1))
        if known and sum(periods) > 0:
            done = sum(periods[: step - 1]) + periods[min(step, self.steps) - 1] * within / 100.0
            return max(0.0, min(100.0, 100.0 * done / sum(periods)))
        return max(0.0, min(100.0, 100.0 * ((step - 1) + within / 100.0) / self.steps))

    def progress(self) -> Progress | None:
        """The job's progress as these files tell it; None before the first increment."""
        if self.step is None and self.completed is None:
            return None
        step_pct, total_pct = self.step_percent, self.total_percent
        percent = total_pct if total_pct is not None else step_pct
        if self.completed:
            percent = 100.0
        parts = []
        if self.step is not None:
            parts.append(f"step {self.step}" + (f"/{self.steps}" if self.steps else ""))
        if self.increment is not None:
            attempt = f" att {self.attempt}" if self.attempt and self.attempt > 1 else ""
            parts.append(f"inc {self.increment}{attempt}")
        if step_pct is not None:
            parts.append(f"step {step_pct:.1f}%")
        if self.increment_size is not None:
            parts.append(f"dt {self.increment_size:.3g}")
        if self.cutbacks:
            parts.append(f"{self.cutbacks} cutback{'s' if self.cutbacks > 1 else ''}")
        if self.warnings or self.errors:
            parts.append(f"{self.warnings} warning(s), {self.errors} error(s)")
        if self.completed is not None:
            parts.append("completed" if self.completed else "NOT completed")
        return Progress(percent=percent, step=self.step, total=self.steps, text="  ".join(parts), detail=self.detail())

    def detail(self) -> dict[str, object]:
        """The figures behind the progress, for the job record (`progress.detail`)."""
        return {
            "source": "abaqus",
            "solver": self.solver,
            "step": self.step,
            "steps": self.steps,
            "increment": self.increment,
            "attempt": self.attempt,
            "cutbacks": self.cutbacks,
            "step_time": self.step_time,
            "total_time": self.total_time,
            "increment_size": self.increment_size,
            "step_percent": self.step_percent,
            "total_percent": self.total_percent,
            "completed": self.completed,
            "warnings": self.warnings,
            "errors": self.errors,
        }
