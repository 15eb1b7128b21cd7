"""The simulated printer: slips rendered from the profile's receipt templates, on the tray.

Each slip is set as its template's ``print`` section says (80 mm paper, another font, values
flush right in two columns); a template without one prints the CUP layout (58 mm, the CJK
font, ``LABEL: value``). The slip carries its layout to the tray and the camera renders it so.

A transaction prints a merchant copy and a customer copy (``SimTerminalConfig.receipt_copies``),
a decline one merchant copy with the reason (the template's notes), a settlement its totals
(the settlement template). Each print job
announces ``printing`` started / done (or ``out_of_paper``) and draws the printer faults
once: ``faded_print``, ``dead_column``, ``cut_short`` set ``Slip.quality`` (the camera renders
it so), ``wrong_amount_on_slip`` prints an amount 1.00 above the transaction's, so the
receipt reader's three-witness check has something to catch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.bench_model import Slip
from devices.payments.settlement import Totals
from devices.terminal.dialect import Event

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal

WRONG_AMOUNT_DELTA = 100  # fen the faulty slip adds
#: Transaction type labels when the profile's template has none for a kind.
TXN_TYPES = {"sale": "消费 SALE", "void": "消费撤销 VOID", "refund": "退货 REFUND"}
_QUALITY_FAULTS = (("faded_print", "faded"), ("dead_column", "dead_column"), ("cut_short", "cut_short"))


def format_amount(fen: int) -> str:
    return f"RMB {fen // 100}.{fen % 100:02d}"


def render_slip(template: dict[str, Any], values: dict[str, str], copy: str = "merchant",
                quality: str = "good", notes: tuple[str, ...] = ()) -> Slip:
    """Lines in template order: title, copy marker, one ``LABEL: value`` line per field,
    then any notes (a decline's reason, REPRINT); set as the template's ``print`` section
    says (print_layout)."""
    lines = [template.get("title", ""), template.get("copies", {}).get(copy, copy)]
    for entry in template.get("fields", []):
        lines.append(f"{entry['label']}: {values.get(entry['key'], '')}")
    lines.extend(notes)
    return Slip(tuple(lines), quality=quality, layout=print_layout(template))


#: What a template's ``print`` section may say: the printer's paper (58 or 80 mm), its font
#: (a file; the CJK font when none) and size in dots, the line pitch in dots, and where a value
#: goes: ``after`` its label's ": " or flush ``right`` on the label's row (two columns).
PRINT_KEYS = ("paper_mm", "font_px", "pitch", "values", "font")


def print_layout(template: dict[str, Any]) -> tuple[tuple[str, object], ...]:
    """The template's ``print`` section as a slip carries it (``Slip.layout``); empty for a
    template without one (the CUP layout: 58 mm, the CJK font, a value after its label).
    An unknown key is an error naming the ones there are: a layout is never half applied."""
    section = template.get("print") or {}
    if not isinstance(section, dict):
        raise ValueError(f"receipt template {template.get('name')!r}: print: expected a mapping of "
                         f"{', '.join(PRINT_KEYS)}, got {section!r}")
    unknown = sorted(set(section) - set(PRINT_KEYS))
    if unknown:
        raise ValueError(f"receipt template {template.get('name')!r}: print: unknown key(s) "
                         f"{', '.join(unknown)} (expected {', '.join(PRINT_KEYS)})")
    return tuple((key, section[key]) for key in PRINT_KEYS if key in section)


def note_line(template: dict[str, Any], name: str, value: str = "") -> str:
    """The line a slip ends with, as the template writes note ``name``: a fixed text
    (``reprint: "重打印 REPRINT"``), or a text and a value (``declined: {text: ...}`` ->
    ``"交易失败 DECLINED: 51 insufficient funds"``)."""
    note = template.get("notes", {}).get(name)
    if note is None:
        raise KeyError(f"receipt template {template.get('name')!r} has no note {name!r}")
    if isinstance(note, str):
        return note
    return f"{note['text']}: {value}" if value else str(note["text"])


def slip_values(terminal: SimulatedTerminal, *, kind: str, card: str, trace: int, batch: int,
                amount: int, auth_code: str | None, rrn: str | None) -> dict[str, Any]:
    """What a transaction slip shows, kept in the batch so a reprint shows the same."""
    template = terminal.cfg.receipt_template
    return {
        "merchant_name": terminal.cfg.merchant_name, "merchant_id": terminal.cfg.mid,
        "terminal_id": terminal.cfg.tid, "operator": terminal.ram.operator or "", "card_number": card,
        "txn_type": template.get("txn_types", {}).get(kind) or TXN_TYPES.get(kind, kind),
        "batch": f"{batch:06d}", "trace": f"{trace:06d}", "auth_code": auth_code or "",
        "rrn": rrn or "", "datetime": terminal.ram.now().strftime("%Y/%m/%d %H:%M:%S"),
        "amount": format_amount(amount), "amount_fen": amount,
    }


def print_transaction(terminal: SimulatedTerminal, values: dict[str, Any], *,
                      notes: tuple[str, ...] = (), copies: tuple[str, ...] | None = None
                      ) -> tuple[list[str], bool]:
    """Print a transaction slip; returns the merchant copy's lines and whether paper came out."""
    copies = terminal.cfg.receipt_copies if copies is None else copies
    printed = dict(values)
    wrong = terminal.faults.fire("wrong_amount_on_slip")
    if wrong:
        printed["amount"] = format_amount(int(values["amount_fen"]) + WRONG_AMOUNT_DELTA)
    slips = [render_slip(terminal.cfg.receipt_template, printed, copy, notes=notes) for copy in copies]
    return list(slips[0].lines), _job(terminal, slips, wrong_amount=wrong)


def print_lines(terminal: SimulatedTerminal, lines: list[str],
                template: dict[str, Any] | None = None) -> bool:
    """Print ``lines`` as they are, set as ``template``'s ``print`` section says."""
    return _job(terminal, [Slip(tuple(lines), layout=print_layout(template or {}))])


def _job(terminal: SimulatedTerminal, slips: list[Slip], *, wrong_amount: bool = False) -> bool:
    terminal.emit(Event("printing", {"state": "started"}))
    if terminal.faults.is_set("out_of_paper"):
        terminal.emit(Event("printing", {"state": "out_of_paper"}))
        terminal.display("打印机缺纸 PRINTER OUT OF PAPER")
        return False
    quality = next((q for fault, q in _QUALITY_FAULTS if terminal.faults.fire(fault)), "good")
    for slip in slips:
        terminal.model.print_slip(Slip(slip.lines, quality=quality, layout=slip.layout))
    terminal.console(f"PRINT {len(slips)} slip(s), {len(slips[0].lines)} lines, quality {quality}"
              + (", amount misprinted (fault)" if wrong_amount else ""))
    terminal.emit(Event("printing", {"state": "done"}))
    return True


def settlement_lines(terminal: SimulatedTerminal, batch: int, totals: Totals, balanced: bool) -> list[str]:
    """The settlement slip (结算单) as the profile's settlement template lays it out: title,
    ``LABEL: value`` per field, the host's verdict as the closing note."""
    template = terminal.cfg.settlement_template
    d, f = totals.domestic, totals.foreign
    values = {
        "merchant_name": terminal.cfg.merchant_name, "merchant_id": terminal.cfg.mid,
        "terminal_id": terminal.cfg.tid,
        "batch": f"{batch:06d}", "datetime": f"{terminal.ram.now():%Y/%m/%d %H:%M:%S}",
        "domestic_debit": f"{d.debit_count} {format_amount(d.debit_amount)}",
        "domestic_credit": f"{d.credit_count} {format_amount(d.credit_amount)}",
        "foreign_debit": f"{f.debit_count} {format_amount(f.debit_amount)}",
        "foreign_credit": f"{f.credit_count} {format_amount(f.credit_amount)}",
    }
    lines = [template.get("title", "")]
    lines += [f"{entry['label']}: {values.get(entry['key'], '')}" for entry in template.get("fields", [])]
    lines.append(note_line(template, "balanced" if balanced else "unbalanced"))
    return lines
