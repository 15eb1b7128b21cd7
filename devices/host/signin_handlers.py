"""Sign-in (0800 / 0810): the host hands a terminal fresh working keys and its batch."""

from __future__ import annotations

from devices.host.core import Ctx, Decline, HostCore
from devices.payments import messages
from devices.payments.keys import KEY_MODES, WorkingKeys, pack_de62


def signin(core: HostCore, ctx: Ctx) -> None:
    """Keys in the mode DE60 asks for (the journal notes it when the profile says another);
    the batch the host keeps for the terminal, or else the one it names, or the host's
    first."""
    ctx.echo("11", "41", "42")
    term = core.require_terminal(ctx)
    ctx.need("11", "60")
    de60 = ctx.req["60"]
    mode = de60[8:11]
    if de60[:2] != messages.TYPE_MANAGEMENT or len(de60) < 11 or mode not in KEY_MODES:
        raise Decline("30", f"0800 DE60 {de60!r}: expected 00 + batch + 001/003/004")
    note = f"key mode {mode}"
    if mode != term.config.key_mode:
        note += f" (profile says {term.config.key_mode})"
    if term.batch is None:
        asked = de60[2:8]
        term.batch = asked if asked.isdigit() and asked != "000000" else \
            f"{core.config.first_batch:06d}"
    keys = WorkingKeys.generate(mode)
    ctx.resp["37"] = core.next_rrn(ctx.now)
    ctx.resp["60"] = messages.de60_management(term.batch, mode)
    de62 = pack_de62(term.tmk, keys, mode, term.config.key_layout)
    ctx.resp["62"] = de62.hex().upper()
    core.set_keys(term, keys, mode)
    ctx.row.update(batch=term.batch, note=f"{note}, DE62 {len(de62)} bytes")
