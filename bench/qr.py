"""Scan-to-pay's optical paths: how often each is read right, per camera level.

    python bench/qr.py [--seeds 40] [--levels L0,L1,L2,L3]

- **the QR slip** (fixtures/receipts/cup-qr.yaml) printed by the simulated printer,
  photographed by the tray camera's scene at each level with ``--seeds`` seeds, read and
  verified by the template reader against its witnesses; the card slip (cup-standard) with
  the same values is the baseline, read from the same photos' seeds in the same run. With
  ``--full`` the QR slip also carries the two rows of iso8583-cup-qr.md §7 it leaves off
  (order number, remark), to show what they cost.
- **the phone's payment-code screen** (devices/phone) decoded by the terminal's scanner
  (zxing-cpp), ``--seeds`` screens;
- **the terminal's screen with a B2C code** (devices/display) through the display camera at
  each level, decoded by the rig (harness/receipts/qr.py).

A read is right only when the verdict is ``pass`` (slips) or the decoded text is the code
shown (codes). Times are wall-clock per read on this machine as loaded as it is (the load
average is printed). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.camera import scene
from devices.camera.render import render_slip as print_on_paper
from devices.display import scene as display_scene
from devices.display.lcd import Content
from devices.payments import qr
from devices.phone import render_code_screen
from devices.terminal.sim.printer import render_slip
from devices.terminal.sim.qr_scan import decode
from harness.paths import FIXTURES
from harness.receipts import PrintLimits, ReceiptReader, ReceiptTemplate
from harness.receipts.qr import read_qr
from harness.receipts.witness import Witnesses

VALUES = {
    "merchant_name": "POSRIG TEST MERCHANT", "merchant_id": "898100012340001",
    "terminal_id": "10000001", "operator": "01", "card_number": "624283*********0000",
    "order": "PR20261204235149 10000001000009", "txn_type": "扫码消费 SCAN SALE",
    "wallet": "银联二维码 UnionPay QR", "voucher": "20261204000000000003", "batch": "000001",
    "trace": "000009", "auth_code": "825272", "rrn": "235149000007",
    "datetime": "2026/12/04 23:51:53", "amount": "RMB 50.00", "remark": "扫码交易，免签名",
}
GIVEN = ("merchant_name", "merchant_id", "terminal_id", "operator", "batch", "trace",
         "auth_code", "rrn", "voucher", "order")
FULL_ROWS = [{"key": "order", "label": "订单号 ORDER NO", "kind": "alnum", "length": 30},
             {"key": "remark", "label": "备注 REMARK", "kind": "text"}]


def slip_rate(template: dict, level: str, seeds: int, *, txn_type: str) -> tuple[int, float]:
    reader = ReceiptReader(ReceiptTemplate.from_dict(template, template["name"]),
                           PrintLimits.from_profile(FIXTURES / "terminals" / "posrig-sim.yaml"))
    keys = {f["key"] for f in template["fields"]}
    given = {k: VALUES[k].replace(" ", "") if k == "order" else VALUES[k] for k in GIVEN if k in keys}
    values = dict(VALUES, txn_type=txn_type)
    right, times = 0, []
    for seed in range(seeds):
        slip = render_slip(template, values, "customer")
        photo_seed = int(np.random.SeedSequence([0, seed]).generate_state(1)[0])
        photo = scene.render_scene(print_on_paper(slip).image, level, photo_seed)
        started = time.perf_counter()
        verdict = reader.verify(photo, Witnesses(given=given))
        times.append(time.perf_counter() - started)
        right += verdict.status == "pass"
    return right, statistics.median(times)


def phone_rate(seeds: int) -> int:
    return sum(decode(render_code_screen(qr.make_code("03", seed), seed=seed)) == qr.make_code("03", seed)
               for seed in range(seeds))


def display_rate(level: str, seeds: int) -> int:
    right = 0
    for seed in range(seeds):
        url = qr.order_url(f"PR20261204235149100000010{seed:05d}")
        content = Content(("扫码支付 SCAN TO PAY", "金额 AMOUNT RMB 25.00", "微信/支付宝/云闪付",
                           "剩余 16 秒 S"), qr=url)
        frame = display_scene.render_display(content, level, seed).frame
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])  # as streamed
        gray = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
        right += ok and read_qr(gray) == url
    return right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--levels", default="L0,L1,L2,L3")
    parser.add_argument("--full", action="store_true", help="also read the QR slip with section 7's two rows")
    args = parser.parse_args()
    receipts = FIXTURES / "receipts"
    qr_template = yaml.safe_load((receipts / "cup-qr.yaml").read_text(encoding="utf-8"))
    card_template = yaml.safe_load((receipts / "cup-standard.yaml").read_text(encoding="utf-8"))
    full = dict(qr_template, fields=qr_template["fields"] + FULL_ROWS)
    figures: dict[str, object] = {"seeds": args.seeds, "load_avg_1m": round(os.getloadavg()[0], 2)}
    for level in args.levels.split(","):
        qr_right, qr_s = slip_rate(qr_template, level, args.seeds, txn_type="扫码消费 SCAN SALE")
        card_right, card_s = slip_rate(card_template, level, args.seeds, txn_type="消费 SALE")
        row = {"qr_slip_pass": qr_right, "card_slip_pass": card_right,
               "qr_slip_read_s": round(qr_s, 3), "card_slip_read_s": round(card_s, 3),
               "display_code_read": display_rate(level, args.seeds)}
        if args.full:
            row["qr_slip_full_pass"] = slip_rate(full, level, args.seeds, txn_type="扫码消费 SCAN SALE")[0]
        figures[level] = row
        print(f"{level}: QR slip {qr_right}/{args.seeds} pass ({qr_s * 1000:.0f} ms), card slip "
              f"{card_right}/{args.seeds} ({card_s * 1000:.0f} ms), display code "
              f"{row['display_code_read']}/{args.seeds}"
              + (f", QR slip with section 7's rows {row['qr_slip_full_pass']}/{args.seeds}"
                 if args.full else ""), flush=True)
    figures["phone_code_decoded"] = phone_rate(args.seeds)
    print(f"phone code decoded by the scanner: {figures['phone_code_decoded']}/{args.seeds}")
    print(f"load average {figures['load_avg_1m']}")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
