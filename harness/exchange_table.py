"""The host's ISO 8583 exchanges as tables a vendor reads: one per message, field number,
field name and value.

The host logs each exchange as one line, ``describe(request) -> describe(response)``
(devices/payments/spec.py), already masked field by field; this module reads those lines
back with ``parse_description`` and lays them out as an HTML attachment (Allure 3 shows
``text/html``). It adds no value of its own: what a cell shows is what the host's line
showed, so the masking rules stay in one place.
"""

from __future__ import annotations

from html import escape

from devices.payments.spec import (
    FIELD_NAMES,
    DescribedExchange,
    DescribedMessage,
    mti_name,
    parse_description,
)

_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 8px; }
section { margin-bottom: 18px; }
h3 { font-size: 14px; margin: 4px 0; }
table { border-collapse: collapse; margin: 6px 0 10px; min-width: 60%; }
caption { text-align: left; font-weight: 600; padding: 2px 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.de { text-align: right; width: 3em; }
td.value { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
td.hidden { color: #777; font-style: italic; }
p.note { color: #555; margin: 2px 0; }
"""


def shown_cell(value: str, withheld: bool) -> str:
    """A described value as the table shows it: a withheld one says so in words."""
    if not withheld:
        return value
    if value == "***":
        return "not shown (secret)"
    return f"{value.strip('<>')}, not shown"  # "<37 digits>" -> "37 digits, not shown"


def message_table(message: DescribedMessage) -> str:
    rows = []
    for key, value in message.fields:
        hidden = key in message.withheld
        shown = shown_cell(value, hidden)
        rows.append(f'<tr><td class="de">{escape(key)}</td><td>{escape(FIELD_NAMES.get(key, "?"))}</td>'
                    f'<td class="value{" hidden" if hidden else ""}">{escape(shown)}</td></tr>')
    return (f'<table class="message {message.kind}"><caption>{escape(message.mti)} '
            f"{escape(mti_name(message.mti))}</caption>"
            "<thead><tr><th>DE</th><th>field</th><th>value</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _heading(stamp: str, exchange: DescribedExchange) -> str:
    mtis = " \u2192 ".join(m.mti for m in (exchange.request, exchange.response) if m is not None)
    return f"<h3>{escape(stamp)} {escape(mtis)}</h3>" if mtis else f"<h3>{escape(stamp)}</h3>"


def exchange_html(lines: list[str]) -> str | None:
    """An HTML page of tables for host log lines ``"<timestamp> <line>"``; None when none of
    them is an exchange (the caller attaches them as text instead)."""
    sections = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        exchange = parse_description(text)
        if exchange is None:
            sections.append(f'<p class="note">{escape(line)}</p>')
            continue
        parts = [_heading(stamp, exchange)]
        if exchange.note:
            parts.append(f'<p class="note">{escape(exchange.note)}</p>')
        parts += [message_table(m) for m in (exchange.request, exchange.response) if m is not None]
        sections.append(f"<section>{''.join(parts)}</section>")
    if not any(s.startswith("<section>") for s in sections):
        return None
    # the style sits in the body: the report shows an HTML attachment's body, sanitised
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>ISO 8583 exchange</title></head>'
            f"<body><style>{_STYLE}</style>{''.join(sections)}</body></html>\n")
