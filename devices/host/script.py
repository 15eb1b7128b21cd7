"""Scripted behaviour: a test tells the host what to do with the next message(s).

    host.script.next(rc="51")                          # the next message, any terminal
    host.script.next(tid="10000001", kind="sale", drop=True)
    host.script.always(tid="10000002", delay_ms=800)   # until cleared
    host.script.clear()

A rule matches on terminal (DE41), MTI and/or kind (signin, sale, void, reversal,
settlement, batch_upload, signoff, echo) and is used ``times`` times (None: until
cleared); the first matching rule wins. What a behaviour does:

- ``rc``: answer with this response code instead of processing (nothing is booked);
- ``delay_ms``: wait before answering;
- ``drop`` / ``close``: process the message, then send nothing (keep the line / close it)
  -- the answer is lost, which is what drives a terminal's reversal;
- ``corrupt_mac``: flip a bit of the response MAC;
- ``unbalanced``: a settlement is answered "not balanced" whatever the totals;
- ``resign``: set processing requirement 3 (sign in again) in the response header;
- ``amount``: answer (and journal) this amount in fen instead of the one asked: the host
  as a witness that disagrees with the terminal. What was booked is what was asked;
- ``clock_shift_s``: handle this exchange as if the host's clock were that many seconds
  later (negative: earlier) -- DE12/DE13, expiry checks, the journal's ``at`` -- leaving
  the other terminals' clock alone (a terminal takes its date from the sign-in answer).

Each exchange a behaviour changed is journaled with the behaviour beside it.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from devices.faults import RigDefect

KINDS = ("signin", "sale", "void", "refund", "reversal", "settlement", "batch_upload", "signoff",
         "echo", "financial", "advice", "management", "unknown")


class ScriptError(RigDefect, ValueError):
    pass


@dataclass(frozen=True)
class Behaviour:
    rc: str | None = None
    delay_ms: int = 0
    drop: bool = False
    close: bool = False
    corrupt_mac: bool = False
    unbalanced: bool = False
    resign: bool = False
    amount: int | None = None  # fen
    clock_shift_s: int = 0

    def __post_init__(self) -> None:
        if self.rc is not None and not (len(self.rc) == 2 and self.rc.isalnum()):
            raise ScriptError(f"response code must be 2 characters, got {self.rc!r}")
        if not 0 <= self.delay_ms <= 600_000:
            raise ScriptError(f"delay must be 0..600000 ms, got {self.delay_ms}")
        if self.amount is not None and not 0 <= self.amount <= 999_999_999_999:
            raise ScriptError(f"amount must be 0..999999999999 fen, got {self.amount}")
        if abs(self.clock_shift_s) > 10 * 366 * 86400:
            raise ScriptError(f"clock shift must be within ten years, got {self.clock_shift_s} s")
        if self.drop and self.close:
            raise ScriptError("drop keeps the connection open and close closes it: pick one")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Behaviour:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ScriptError(f"unknown behaviour(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        defaults = {f.name: f.default for f in fields(self)}
        return {k: v for k, v in asdict(self).items() if v != defaults[k]}

    def describe(self) -> str:
        parts = []
        if self.rc is not None:
            parts.append(f"rc {self.rc}")
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms} ms")
        if self.amount is not None:
            parts.append(f"amount {self.amount}")
        if self.clock_shift_s:
            parts.append(f"clock {self.clock_shift_s:+d} s")
        parts += [name.replace("_", " ") for name in
                  ("drop", "close", "corrupt_mac", "unbalanced", "resign") if getattr(self, name)]
        return ", ".join(parts) or "none"


@dataclass
class Rule:
    behaviour: Behaviour
    tid: str | None = None
    mti: str | None = None
    kind: str | None = None
    remaining: int | None = 1  # None: until cleared

    def matches(self, tid: str | None, mti: str, kind: str) -> bool:
        return ((self.tid is None or self.tid == tid) and (self.mti is None or self.mti == mti)
                and (self.kind is None or self.kind == kind))

    def to_dict(self) -> dict[str, Any]:
        return {"tid": self.tid, "mti": self.mti, "kind": self.kind,
                "remaining": self.remaining, "behaviour": self.behaviour.to_dict()}


class Script:
    """Thread-safe: a test thread scripts while the host's loop thread consumes."""

    def __init__(self, counter: Any = None) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        #: A shared ``multiprocessing.RawValue("i")`` kept equal to the number of rules, so
        #: worker processes ask for a behaviour only when there is one (devices.host.workers).
        self._counter = counter

    def _changed(self) -> None:
        if self._counter is not None:
            self._counter.value = len(self._rules)

    def next(self, behaviour: Behaviour | None = None, *, tid: str | None = None,
             mti: str | None = None, kind: str | None = None, times: int | None = 1,
             **kw: Any) -> Rule:
        """Apply a behaviour to the next ``times`` matching messages (None: until cleared).
        Give a :class:`Behaviour` or its fields as keywords."""
        if behaviour is None:
            behaviour = Behaviour.from_dict(kw)
        elif kw:
            raise ScriptError("give a Behaviour or keywords, not both")
        if kind is not None and kind not in KINDS:
            raise ScriptError(f"unknown message kind {kind!r}; known: {', '.join(KINDS)}")
        if times is not None and times < 1:
            raise ScriptError("times must be at least 1 (or None for until cleared)")
        rule = Rule(behaviour, tid, mti, kind, times)
        with self._lock:
            self._rules.append(rule)
            self._changed()
        return rule

    def always(self, behaviour: Behaviour | None = None, **kw: Any) -> Rule:
        return self.next(behaviour, times=None, **kw)

    def clear(self, tid: str | None = None) -> None:
        """Forget every rule, or those of one terminal."""
        with self._lock:
            self._rules = [] if tid is None else [r for r in self._rules if r.tid != tid]
            self._changed()

    def pending(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def take(self, tid: str | None, mti: str, kind: str) -> Behaviour | None:
        """The host's side: the behaviour for this message, consuming one use of its rule."""
        if not self._rules:  # the common case, without the lock
            return None
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.matches(tid, mti, kind):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            del self._rules[i]
                            self._changed()
                    return rule.behaviour
        return None
