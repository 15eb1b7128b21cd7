"""Terminal profiles, the card list and the test keys, loaded from fixtures/."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.cards import Card, CardDataError
from devices.cards import load_cards as parse_card_list
from devices.host.config import HostConfigError, load_terminal_keys
from harness.config import ConfigError, Node, load_yaml
from harness.paths import resolve


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
    host_timeout: float
    operator_id: str
    operator_password: str = field(repr=False)
    supervisor_password: str = field(repr=False)
    pin_on_chip: bool
    max_amount: int
    robot: dict[str, Any]  # raw geometry; devices.robot validates it
    receipt_template: dict[str, Any]
    settlement_template: dict[str, Any]  # the one the receipt template names ({} if none)
    camera_level: str = "L1"  # how the tray camera of a virtual bench degrades the slip (L0-L3)
    boot_timeout: float = 30.0  # power on to "ready": real terminals take 20-30 s
    power_hold: float = 0.5  # how long a power cycle leaves the supply off


def load_profile(path: Path) -> TerminalProfile:
    root = Node(load_yaml(path, "terminal profile"), path)
    ecr, host, op, caps = (root.node(k) for k in ("ecr", "host_profile", "operator", "capabilities"))
    receipt = root.node("receipt")
    power = root.node("power", {})
    template_path = resolve(f"receipts/{receipt.str('template')}.yaml", path.parent)
    template = load_yaml(template_path, "receipt template")
    settlement = template.get("settlement") if isinstance(template, dict) else None
    settlement_template = (load_yaml(resolve(f"receipts/{settlement}.yaml", path.parent), "receipt template")
                           if settlement else {})
    return TerminalProfile(
        source=path,
        model=root.str("model"), vendor=root.str("vendor"), firmware=root.str("firmware"),
        dialect=root.str("dialect", pattern=r"posrig-ecr/1|concert",
                         expected="posrig-ecr/1 or concert"),
        baudrate=ecr.int("baudrate", min=300), ack_timeout=ecr.float("ack_timeout_s"),
        repeats=ecr.int("repeats", min=0), response_timeout=ecr.float("response_timeout_s"),
        tpdu=bytes.fromhex(host.str("tpdu", pattern=r"60[0-9A-Fa-f]{8}",
                                    expected="10 hex digits starting 60")),
        key_mode=host.str("key_mode", pattern=r"00[134]", expected="001, 003 or 004"),
        mac_alg=host.str("mac", pattern=r"cup-ecb|x9\.19", expected="cup-ecb or x9.19"),
        merchant_id=host.str("merchant_id", pattern=r"\d{15}", expected="a 15-digit merchant id"),
        merchant_name=host.str("merchant_name"), host_timeout=host.float("host_timeout_s"),
        operator_id=op.str("id", pattern=r"\d{2}", expected="a 2-digit operator id"),
        operator_password=op.str("password"),
        supervisor_password=root.str("supervisor_password"),
        pin_on_chip=caps.bool("pin_on_chip"), max_amount=caps.int("max_amount", min=1),
        robot=root.node("robot").data, receipt_template=template,
        settlement_template=settlement_template,
        camera_level=root.node("camera", {}).str("level", "L1", pattern=r"L[0-3]",
                                                 expected="a degradation level L0, L1, L2 or L3"),
        boot_timeout=_positive(power, "boot_timeout_s", 30.0),
        power_hold=_positive(power, "hold_s", 0.5),
    )


def _positive(node: Node, key: str, default: float) -> float:
    value = node.float(key, default)
    if value <= 0:
        raise node.error(key, "a number of seconds above 0", value)
    return value


def load_cards(path: Path) -> dict[str, Card]:
    """The card list, parsed by :func:`devices.cards.load_cards` (the host uses the same)."""
    try:
        return parse_card_list(path)
    except CardDataError as exc:
        raise ConfigError(str(exc)) from exc


def load_master_keys(path: Path) -> dict[str, bytes]:
    """Each terminal's test master key, parsed by the host's own loader (one parser)."""
    try:
        return {tid: keys.tmk for tid, keys in load_terminal_keys(path).items()}
    except (HostConfigError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from exc
