"""What a simulated terminal is told: its identity, its keys, its host and its behaviour.

Most of it comes from the terminal profile (fixtures/terminals/*.yaml); the rest are the
settings a real terminal has in its parameter menu, with the defaults a CUP terminal ships with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIALECTS = ("posrig-ecr/1", "concert")


@dataclass
class SimTerminalConfig:
    tid: str
    mid: str
    tmk: bytes = field(repr=False)
    host: tuple[str, int]
    state_dir: Path
    merchant_name: str = "POSRIG TEST MERCHANT"
    tpdu: bytes = bytes.fromhex("6000030000")
    key_mode: str = "003"
    key_layout: int = 60  # DE62's length for key mode 004: 60 or 52 (the profile's)
    mac_alg: str = "cup-ecb"
    operator_id: str = "01"
    operator_password: str = field(default="0000", repr=False)
    supervisor_password: str = field(default="123456", repr=False)
    pin_on_chip: bool = True
    max_amount: int = 99_999_999
    host_timeout: float = 10.0
    card_timeout: float = 30.0
    pin_timeout: float = 30.0
    max_login_failures: int = 3
    receipt_template: dict[str, Any] = field(default_factory=dict)
    settlement_template: dict[str, Any] = field(default_factory=dict)  # the 结算单's layout
    # -- beyond the walking skeleton ---------------------------------------------------------
    dialect: str = "posrig-ecr/1"  # or "concert": the ECR port speaks Ingenico Concert E+
    model_name: str = "posrig-sim"
    firmware: str = "1.0.0"
    serial: str = ""  # the device's serial number; "SIM" + TID when not given
    min_amount: int = 1  # fen
    pin_on_swipe: bool = True  # magstripe (and fallback) sales ask for the PIN
    pin_on_void: bool = False  # the reference: a void asks for a PIN only if the profile says so
    pin_on_refund: bool = False  # likewise for a refund
    contactless_pin_limit: int = 100_000  # fen; a tap above this asks for the PIN
    pin_over_link: bool = False  # accept the PIN in the ECR request (unattended kiosks)
    supervisor_password_over_link: bool = False  # accept it in the void request
    reversal_retries: int = 3  # sends of a reversal after the first before giving up for now
    max_batch_items: int = 500  # a full batch forces settlement, as a full journal does
    receipt_copies: tuple[str, ...] = ("merchant", "customer")
    print_declines: bool = True  # a declined sale or void prints a merchant copy with the reason
    fault_seed: int = 0  # the faults' random draws (rates below 1) repeat with the seed
    boot_s: float = 0.0  # how long the self-check takes
    # -- scan-to-pay (iso8583-cup-qr.md §4; devices/terminal/sim/qr.py) ----------------------
    qr_poll_s: float = 5.0  # first result query this long after FD, then as often
    qr_c2b_window_s: float = 60.0  # a C2B payment still pending this long is reversed
    qr_b2c_window_s: float = 90.0  # a B2C order still unpaid this long is reversed
    qr_receipt_template: dict[str, Any] = field(default_factory=dict)  # {}: fixtures' cup-qr

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"terminal {self.tid}: dialect must be one of {DIALECTS}, "
                             f"got {self.dialect!r}")
        if not self.serial:
            self.serial = f"SIM{self.tid}"
        if not 0 < self.min_amount <= self.max_amount:
            raise ValueError(f"terminal {self.tid}: need 0 < min_amount <= max_amount")
