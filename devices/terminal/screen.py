"""A terminal profile's ``screen:`` section: its display camera and its screen states.

```yaml
screen:
  level: L1            # the virtual bench's display camera (L0-L3, devices/display/scene.py)
  backlight: 0.9       # the simulated panel's backlight and contrast, 0..1
  contrast: 0.8
  crop: [0.1, 0.1, 0.9, 0.9]   # optional: where the screen is in the camera's frame (shares);
                               # without it the reader finds the lit screen itself
  states:              # in order: the first state that matches names the screen
    approved: { text: "交易成功|APPROVED" }
    declined: { text: ["交易拒绝|DECLINED", "RC ?(?P<code>[0-9A-Z]{2})"] }
    remove_card: { text: "请拔卡|REMOVE CARD", region: [0, 0.8, 1, 1] }
```

A state's ``text`` is one pattern or a list of them (Python regular expressions), all of
which must be found in the screen's text for the state to match; case is ignored, ``^`` and
``$`` anchor at each row, and a space in a pattern matches any run of spaces or none (OCR
often drops a space). Named groups (``(?P<code>...)``) are what the state reports (a decline's
response code). ``region`` (x0, y0, x1, y1 as shares of the screen) limits the state to the
rows whose centre lies in it. Everything is checked when the profile loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devices.datafile import Node

SCREEN_KEYS = ("level", "backlight", "contrast", "crop", "states")
STATE_KEYS = ("text", "region")
Box = tuple[float, float, float, float]


def compile_pattern(text: str) -> re.Pattern[str]:
    """A state's pattern as matched: case ignored, anchors per row, a space any run or none."""
    return re.compile(re.sub(r"(\\ | )+", r"\\s*", text), re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ScreenState:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    region: Box | None = None  # shares of the screen; None: the whole screen

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(p.pattern for p in self.patterns)


@dataclass(frozen=True)
class ScreenProfile:
    states: tuple[ScreenState, ...]  # the profile's order: the first that matches names the screen
    level: str = "L1"
    backlight: float = 0.9
    contrast: float = 0.8
    crop: Box | None = None

    def state(self, name: str) -> ScreenState:
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(f"no screen state {name!r} in the profile; it has "
                       f"{', '.join(s.name for s in self.states)}")


def _box(node: Node, key: str) -> Box | None:
    value = node.raw(key, None)
    if value is None:
        return None
    expected = "[x0, y0, x1, y1]: four shares of the screen (0..1), x0 < x1 and y0 < y1"
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise node.error(key, expected, value)
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise node.error(key, expected, value)
    return x0, y0, x1, y1


def _unit(node: Node, key: str, default: float) -> float:
    value = node.float(key, default)
    if not 0 < value <= 1:
        raise node.error(key, "a share above 0, at most 1", value)
    return value


def parse_screen(node: Node) -> ScreenProfile:
    """The ``screen:`` mapping of a profile, every key and pattern checked."""
    states_node = node.node("states")  # state names are data
    if not states_node.data:
        raise node.error("states", "at least one screen state (name: {text: PATTERN})")
    states = []
    for name in states_node.data:
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise states_node.error(name, "a state name in lower_case_with_underscores")
        st = states_node.node(name, keys=STATE_KEYS)
        raw = st.raw("text")
        texts = [raw] if isinstance(raw, str) else raw
        if (not isinstance(texts, list) or not texts
                or not all(isinstance(text, str) and text for text in texts)):
            raise st.error("text", "a pattern, or a list of patterns, each a non-empty string", raw)
        patterns = []
        for text in texts:
            try:
                patterns.append(compile_pattern(text))
            except re.error as exc:
                raise st.error("text", f"a regular expression ({exc})", text) from None
        states.append(ScreenState(name, tuple(patterns), _box(st, "region")))
    return ScreenProfile(
        states=tuple(states),
        level=node.str("level", "L1", pattern=r"L[0-3]", expected="a display camera level L0, L1, L2 or L3"),
        backlight=_unit(node, "backlight", 0.9), contrast=_unit(node, "contrast", 0.8),
        crop=_box(node, "crop"))
