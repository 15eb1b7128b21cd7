"""What the acquirer host and the simulated terminal both speak.

- :mod:`devices.payments.spec`: the China UnionPay POS profile of ISO 8583 as a pyiso8583
  spec, and the encode/decode wrappers that turn library errors into format errors.
- :mod:`devices.payments.framing`: the TCP frame (length, TPDU, 6-byte header).
- :mod:`devices.payments.crypto`: keys, check values, PIN blocks, MACs.
- :mod:`devices.payments.terminal_side`: the terminal's half of each flow.

Written once, used by both ends (DESIGN.md §2): a bug here shows on both sides at once,
so the tests check the byte layouts against the reference, not only round trips.
"""
