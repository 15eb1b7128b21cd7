"""The terminal profile (fixtures/terminals/*.yaml): one model, parsed once and strictly.

A profile says how to reach a terminal family (dialect, ECR link timing), how it talks to
the acquirer (TPDU, key layout, MAC, merchant, host timeout), who operates it, what it
can do, where the robot finds its readers and keys, how long it takes to boot and what
its slips look like. Every key of the file is read here, and a key this model does not
know -- a typo anywhere, the robot section included -- is an error naming the file, the
key's path and the nearest known key. The harness (``harness.profiles``), the rig's own
test bench (``devices.terminal.testing``) and the virtual lab all take this model, and
``sim_config`` is the one mapping from it to the simulated terminal's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.datafile import ConfigError, Node, load_yaml
from devices.robot.geometry import GeometryError, RobotGeometry
from devices.terminal.screen import SCREEN_KEYS, ScreenProfile, parse_screen
from devices.terminal.sim.config import SimTerminalConfig

#: Where a data path named in a profile is looked up when the caller gives no resolver:
#: beside the profile, then the repository's fixtures/ (the harness passes its own, which
#: honours POSRIG_FIXTURES).
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ENTRY_MODES = ("insert", "swipe", "tap")
#: receipt.print: the print-quality limits the receipt reader grades with (docs/receipts.md)
PRINT_LIMIT_KEYS = ("contrast_pass", "contrast_fail", "dead_dot_drop", "datetime_tolerance_s")

# The keys each mapping of a profile may have (the robot section is RobotGeometry's).
TOP_KEYS = ("extends", "model", "vendor", "firmware", "dialect", "ecr", "host_profile", "operator",
            "supervisor_password", "capabilities", "robot", "power", "receipt", "camera", "screen",
            "prompts", "qr")
ECR_KEYS = ("baudrate", "ack_timeout_s", "repeats", "response_timeout_s")
HOST_KEYS = ("tpdu", "header_version", "key_mode", "key_layout", "mac", "merchant_id", "merchant_name",
             "host_timeout_s")
OPERATOR_KEYS = ("id", "password")
CAPABILITY_KEYS = ("entry", "pin_on_chip", "max_amount", "card_timeout_s", "pin_timeout_s")
POWER_KEYS = ("boot_timeout_s", "hold_s")
#: qr: the terminal's scan-to-pay timers (iso8583-cup-qr.md §4; 5, 60 and 90 s by default)
QR_KEYS = ("poll_s", "c2b_window_s", "b2c_window_s")
RECEIPT_KEYS = ("template", "print", "require_camera")
CAMERA_KEYS = ("level",)
#: prompts: where the rig learns what the terminal asks of its cardholder (docs/screen.md):
#: events over its ECR link, lines of its debug console, or its screen through the display camera
PROMPT_SOURCES = ("ecr", "console", "screen")
#: the screen states a profile with ``prompts: screen`` must define: every card transaction waits on them
SCREEN_PROMPTS_REQUIRED = ("insert_card", "enter_pin")

Resolver = Callable[[str, Path], Path]


@dataclass(frozen=True)
class TerminalProfile:
    source: Path
    model: str
    vendor: str
    firmware: str
    dialect: str
    baudrate: int
    ack_timeout: float
    repeats: int
    response_timeout: float
    tpdu: bytes
    key_mode: str
    mac_alg: str
    merchant_id: str
    merchant_name: str
    host_timeout: float  # how long the terminal waits for the host's answer before reversing
    operator_id: str
    operator_password: str = field(repr=False)
    supervisor_password: str = field(repr=False)
    pin_on_chip: bool
    max_amount: int
    robot: dict[str, Any]  # the raw section, as RobotGeometry.from_dict takes it
    geometry: RobotGeometry  # the same section, checked
    receipt_template: dict[str, Any]
    settlement_template: dict[str, Any]  # the one the receipt template names ({} if none)
    camera_level: str = "L1"  # how the tray camera of a virtual bench degrades the slip (L0-L3)
    boot_timeout: float = 30.0  # power on to "ready": real terminals take 20-30 s
    power_hold: float = 0.5  # how long a power cycle leaves the supply off
    header_version: str = "310000"  # the ISO 8583 header's application version (6 digits)
    entry_modes: tuple[str, ...] = ENTRY_MODES  # how the terminal takes a card
    print_limits: Mapping[str, float] = field(default_factory=dict)  # receipt.print, as given
    #: receipt.require_camera: a slip that cannot be read by camera (no camera over the tray)
    #: is a station fault, never checked from the lines the terminal reports instead
    require_camera: bool = False
    #: host_profile.key_layout: DE62's length for key mode 004 -- 60 (the reference terminal's
    #: layout, a 16-byte MAK slot) or 52 (the Java reference's, an 8-byte MAK slot)
    key_layout: int = 60
    #: capabilities.card_timeout_s / pin_timeout_s: how long the terminal waits for a card,
    #: and for a PIN or supervisor password ended by ENTER (docs/posrig-ecr-1.md)
    card_timeout: float = 30.0
    pin_timeout: float = 30.0
    #: screen: the display camera and the screen states (devices/terminal/screen.py); None: none
    screen: ScreenProfile | None = None
    #: prompts: ecr | console | screen (PROMPT_SOURCES); by default ecr for posrig-ecr/1 and
    #: console for Concert, whose link carries no events
    prompts: str = "ecr"
    #: qr: the first result query this long after FD and then as often; how long a C2B
    #: payment and a B2C order may stay pending before the terminal reverses them
    qr_poll_s: float = 5.0
    qr_c2b_window_s: float = 60.0
    qr_b2c_window_s: float = 90.0


def default_resolve(name: str, beside: Path) -> Path:
    """A relative data path: beside the file naming it, then in the repository's fixtures/."""
    path = Path(name)
    if path.is_absolute():
        return path
    return beside / path if (beside / path).exists() else FIXTURES / path


def profile_data(path: Path, _within: tuple[Path, ...] = ()) -> Any:
    """The mapping of the profile at ``path``, over the profile it ``extends`` (a path relative
    to it): a family's variant says only what differs -- its model, its receipt template, its
    key layout -- and does not drift from the profile it copies. Mappings merge key by key,
    anything else (a list, a value) is replaced whole."""
    data = load_yaml(path, "terminal profile")
    if not isinstance(data, dict) or "extends" not in data:
        return data
    name = data.pop("extends")
    if not isinstance(name, str) or not name.endswith((".yaml", ".yml")):
        raise ConfigError(f"{path}: extends: the profile this one varies, as a .yaml path relative "
                          f"to it (extends: posrig-sim.yaml), got {name!r}")
    base = (path.parent / name).resolve()
    if base in _within or base == path.resolve():
        raise ConfigError(f"{path}: extends: {name} extends this profile again (a cycle): "
                          "one profile must stand on its own")
    if not base.is_file():
        raise ConfigError(f"{path}: extends: {name}: no such profile beside this one ({base})")
    return _merged(profile_data(base, (*_within, path.resolve())), data)


def _merged(base: Any, over: Any) -> Any:
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    return {**base, **{key: _merged(base.get(key), value) for key, value in over.items()}}


def load_profile(path: str | Path, *, resolve: Resolver = default_resolve) -> TerminalProfile:
    """The profile at ``path``, every key checked; a bad one raises ``ConfigError``."""
    path = Path(path)
    root = Node(profile_data(path), path, keys=TOP_KEYS)
    ecr = root.node("ecr", keys=ECR_KEYS)
    host = root.node("host_profile", keys=HOST_KEYS)
    op = root.node("operator", keys=OPERATOR_KEYS)
    caps = root.node("capabilities", keys=CAPABILITY_KEYS)
    power = root.node("power", {}, keys=POWER_KEYS)
    receipt = root.node("receipt", keys=RECEIPT_KEYS)
    camera = root.node("camera", {}, keys=CAMERA_KEYS)
    qr = root.node("qr", {}, keys=QR_KEYS)
    dialect = root.str("dialect", pattern=r"posrig-ecr/1|concert", expected="posrig-ecr/1 or concert")
    screen = parse_screen(root.node("screen", keys=SCREEN_KEYS)) if root.has("screen") else None
    template, settlement_template = _templates(receipt, path, resolve)
    robot = root.node("robot").data
    try:
        geometry = RobotGeometry.from_dict(robot, source=str(path))
    except GeometryError as exc:
        raise ConfigError(str(exc)) from exc
    return TerminalProfile(
        source=path,
        model=root.str("model"), vendor=root.str("vendor"), firmware=root.str("firmware"),
        dialect=dialect,
        baudrate=ecr.int("baudrate", min=300), ack_timeout=_positive(ecr, "ack_timeout_s"),
        repeats=ecr.int("repeats", min=0), response_timeout=_positive(ecr, "response_timeout_s"),
        tpdu=bytes.fromhex(host.str("tpdu", pattern=r"60[0-9A-Fa-f]{8}",
                                    expected="10 hex digits starting 60")),
        header_version=host.str("header_version", "310000", pattern=r"\d{6}",
                                expected="6 digits (the application version, e.g. 310000)"),
        key_mode=host.str("key_mode", pattern=r"00[134]", expected="001, 003 or 004"),
        mac_alg=host.str("mac", pattern=r"cup-ecb|x9\.19", expected="cup-ecb or x9.19"),
        merchant_id=host.str("merchant_id", pattern=r"\d{15}", expected="a 15-digit merchant id"),
        merchant_name=host.str("merchant_name"),
        host_timeout=_positive(host, "host_timeout_s"),
        operator_id=op.str("id", pattern=r"\d{2}", expected="a 2-digit operator id"),
        operator_password=op.str("password"),
        supervisor_password=root.str("supervisor_password"),
        entry_modes=caps.choices("entry", ENTRY_MODES, ENTRY_MODES),
        pin_on_chip=caps.bool("pin_on_chip"), max_amount=caps.int("max_amount", min=1),
        robot=robot, geometry=geometry, receipt_template=template,
        settlement_template=settlement_template,
        camera_level=camera.str("level", "L1", pattern=r"L[0-3]",
                                expected="a degradation level L0, L1, L2 or L3"),
        boot_timeout=_positive(power, "boot_timeout_s", 30.0),
        power_hold=_positive(power, "hold_s", 0.5),
        print_limits=_print_limits(receipt),
        require_camera=receipt.bool("require_camera", False),
        key_layout=_key_layout(host),
        card_timeout=_positive(caps, "card_timeout_s", 30.0),
        pin_timeout=_positive(caps, "pin_timeout_s", 30.0),
        screen=screen,
        prompts=_prompts(root, dialect, screen),
        qr_poll_s=_positive(qr, "poll_s", 5.0),
        qr_c2b_window_s=_positive(qr, "c2b_window_s", 60.0),
        qr_b2c_window_s=_positive(qr, "b2c_window_s", 90.0),
    )


def print_limits(path: str | Path) -> dict[str, float]:
    """The profile's ``receipt.print`` limits alone, read as ``load_profile`` reads them: for
    a reader of photos (``posrig receipt read``) that needs nothing else of the profile."""
    path = Path(path)
    receipt = Node(profile_data(path), path, keys=TOP_KEYS).node("receipt", keys=RECEIPT_KEYS)
    return _print_limits(receipt)


def _templates(receipt: Node, path: Path, resolve: Resolver) -> tuple[dict[str, Any], dict[str, Any]]:
    """The receipt template the profile names, and the settlement template that one names."""
    name = receipt.str("template", pattern=r"[\w\-]+", expected="a template name from fixtures/receipts/")
    template = load_yaml(resolve(f"receipts/{name}.yaml", path.parent), "receipt template")
    if not isinstance(template, dict):
        raise receipt.error("template", "a receipt template file holding a mapping", name)
    settlement = template.get("settlement")
    settlement_template = (load_yaml(resolve(f"receipts/{settlement}.yaml", path.parent),
                                     "receipt template") if settlement else {})
    return template, settlement_template or {}


def _print_limits(receipt: Node) -> dict[str, float]:
    limits = receipt.node("print", {}, keys=PRINT_LIMIT_KEYS)
    return {key: limits.float(key) for key in PRINT_LIMIT_KEYS if limits.has(key)}


def _positive(node: Node, key: str, default: Any = ...) -> float:
    value = node.float(key, default)
    if value <= 0:
        raise node.error(key, "a number of seconds above 0", value)
    return value


def _prompts(root: Node, dialect: str, screen: ScreenProfile | None) -> str:
    """Where the terminal's prompts come from, checked against what its dialect and its
    profile can give: posrig-ecr/1 reports them over its link (only ``ecr``); Concert has no
    events (``console`` or ``screen``); ``screen`` needs the screen states the flows wait on."""
    default = "ecr" if dialect == "posrig-ecr/1" else "console"
    source = root.str("prompts", default, pattern="|".join(PROMPT_SOURCES),
                      expected="ecr, console or screen")
    if dialect == "posrig-ecr/1" and source != "ecr":
        raise root.error("prompts", "ecr: a posrig-ecr/1 terminal reports its prompts over its link",
                         source)
    if dialect == "concert" and source == "ecr":
        raise root.error("prompts", "console or screen: Concert carries no events over its link",
                         source)
    if source == "screen":
        names = {s.name for s in screen.states} if screen is not None else set()
        missing = [n for n in SCREEN_PROMPTS_REQUIRED if n not in names]
        if missing:
            raise root.error("prompts", f"screen with a screen: section defining the states "
                                        f"{', '.join(SCREEN_PROMPTS_REQUIRED)} (missing: "
                                        f"{', '.join(missing)}; docs/screen.md)", source)
    return source


def _key_layout(host: Node) -> int:
    layout = host.int("key_layout", 60)
    if layout not in (60, 52):
        raise host.error("key_layout", "60 or 52 (DE62's length for key mode 004)", layout)
    return layout


def sim_config(profile: TerminalProfile, *, tid: str, tmk: bytes, host: tuple[str, int],
               state_dir: Path, **overrides: Any) -> SimTerminalConfig:
    """The simulated terminal's settings for a station of this profile: everything the
    profile says (the host timeout included) reaches the simulator; ``overrides`` are
    ``SimTerminalConfig`` fields a caller sets on purpose (a test's shortened timeouts)."""
    settings: dict[str, Any] = dict(
        tid=tid, mid=profile.merchant_id, tmk=tmk, host=host, state_dir=state_dir,
        merchant_name=profile.merchant_name, tpdu=profile.tpdu, key_mode=profile.key_mode,
        key_layout=profile.key_layout, mac_alg=profile.mac_alg, operator_id=profile.operator_id,
        operator_password=profile.operator_password,
        supervisor_password=profile.supervisor_password, pin_on_chip=profile.pin_on_chip,
        max_amount=profile.max_amount, host_timeout=profile.host_timeout,
        card_timeout=profile.card_timeout, pin_timeout=profile.pin_timeout,
        receipt_template=profile.receipt_template, settlement_template=profile.settlement_template,
        dialect=profile.dialect, model_name=profile.model, firmware=profile.firmware,
        qr_poll_s=profile.qr_poll_s, qr_c2b_window_s=profile.qr_c2b_window_s,
        qr_b2c_window_s=profile.qr_b2c_window_s)
    settings.update(overrides)
    return SimTerminalConfig(**settings)
