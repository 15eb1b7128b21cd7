"""Which handler answers which request: the host's dispatch tables, filled in one place.

:data:`devices.host.core.HANDLERS` maps a request's MTI to its journal kind and handler;
:data:`devices.host.sale_handlers.FINANCIAL` maps a 0200's DE3 and 60.1 to its handler.
:func:`install` fills both from :data:`CARD_REQUESTS` and :data:`CARD_FINANCIAL`, then lets
devices.host.qr wrap the codes QR payments share with cards (they are told apart by DE22)
and add its own. :class:`devices.host.server.AcquirerHost` calls it before it answers
anything, in every worker process too; nothing is registered by importing a module.
"""

from __future__ import annotations

from devices.host import qr, refund_handlers, sale_handlers, settle_handlers, signin_handlers, undo_handlers
from devices.host.core import HANDLERS, Handler
from devices.payments import messages

#: Request MTI -> (journal kind, handler) of the card flows.
CARD_REQUESTS: dict[str, tuple[str, Handler]] = {
    "0800": ("signin", signin_handlers.signin),
    "0200": ("sale", sale_handlers.financial),  # dispatches on DE3 + 60.1: CARD_FINANCIAL
    "0220": ("refund", refund_handlers.advice),
    "0400": ("reversal", undo_handlers.reversal),
    "0500": ("settlement", settle_handlers.settlement),
    "0320": ("batch_upload", settle_handlers.batch_upload),
    "0820": ("management", settle_handlers.management),  # sign-off and echo
}

#: (DE3, 60.1) of a 0200 -> handler, for cards.
CARD_FINANCIAL: dict[tuple[str, str], Handler] = {
    (messages.PC_SALE, messages.TYPE_SALE): sale_handlers.sale,
    (messages.PC_VOID, messages.TYPE_VOID): undo_handlers.void,
}


def install() -> None:
    """Fill the dispatch tables: the card flows, then the QR flows on top (idempotent: an
    entry already there, wrapped by the QR flows, is kept)."""
    for mti, entry in CARD_REQUESTS.items():
        HANDLERS.setdefault(mti, entry)
    for codes, handler in CARD_FINANCIAL.items():
        sale_handlers.FINANCIAL.setdefault(codes, handler)
    qr.register()
