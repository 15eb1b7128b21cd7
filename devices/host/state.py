"""What the host remembers between messages: each terminal's session and the ledger.

Both live in memory: a host restart forgets sessions (terminals sign in again, as after
a real host failover) and open batches; the journal keeps the record of what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.host.config import TerminalKeys
from devices.host.issuer import Account
from devices.payments.crypto import Key
from devices.payments.keys import WorkingKeys


@dataclass
class TerminalState:
    tid: str
    config: TerminalKeys = field(repr=False)
    tmk: Key = field(repr=False)
    batch: str | None = None  # the host's current batch for this terminal
    key_mode: str | None = None
    working: WorkingKeys | None = field(default=None, repr=False)
    settled_batches: set[str] = field(default_factory=set)

    @property
    def signed_in(self) -> bool:
        return self.working is not None


TxnKey = tuple[str, str, str]  # TID, batch (60.2), STAN (DE11)


@dataclass(slots=True)
class Txn:
    """An approved financial transaction as the host booked it. Slots: a busy host keeps
    hundreds of thousands, and each one less dict is less for the garbage collector."""

    key: TxnKey
    kind: str  # sale | void | refund
    amount: int
    account: Account = field(repr=False)
    rrn: str
    auth_code: str
    journal_id: int
    ic: bool  # chip or contactless: batch-uploaded as 203/205, else 201
    scheme: str  # card organisation; CUP = domestic
    pan_masked: str
    pc: str  # DE3 as sent, for reversal matching
    state: str = "approved"  # approved | reversed
    voided_by: TxnKey | None = None  # on a sale: the void that cancelled it
    original: TxnKey | None = None  # on a void: the sale it cancelled
