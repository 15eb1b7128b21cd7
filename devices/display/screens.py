"""The screens the simulated terminal shows, each with the screen state it is under the
simulated profiles' ``screen:`` section (fixtures/terminals/posrig-sim*.yaml) and what that
state captures: the corpus the screen reader's tests and bench/screen.py read.

The lines are the terminal's own (devices/terminal/sim: its ``display`` calls), the prompt
row the LCD's (``PROMPT_TEXT``, ``PRINTING_TEXT``).
"""

from __future__ import annotations

from devices.display.lcd import Content
from devices.display.sim import PRINTING_TEXT, PROMPT_TEXT

#: What the simulated terminal shows (devices/terminal/sim: its display() calls, and the
#: LCD's prompt row for its prompts and printing), and the state each screen is.
SCREENS: tuple[tuple[str, Content, dict[str, str]], ...] = (
    ("idle", Content(("POSRIG-SIM", "欢迎使用 WELCOME")), {}),
    ("sale", Content(("消费 SALE", "金额 AMOUNT 43.21")), {}),
    ("insert_card", Content(("消费 SALE", "金额 AMOUNT 43.21"), PROMPT_TEXT["insert_card"]), {}),
    ("swipe_card", Content(("读卡失败 CHIP READ ERROR", "请刷卡 PLEASE SWIPE")), {}),
    ("enter_pin", Content(("消费 SALE", "金额 AMOUNT 43.21"), PROMPT_TEXT["enter_pin"]), {}),
    ("enter_pin", Content(("请输入密码 ENTER PIN", "****")), {}),
    ("supervisor_password", Content(("主管密码 SUPERVISOR PWD", "**")), {}),
    ("processing", Content(("处理中 PROCESSING",)), {}),
    ("remove_card", Content(("处理中 PROCESSING",), PROMPT_TEXT["remove_card"]), {}),
    ("approved", Content(("交易成功 APPROVED", "43.21")), {}),
    ("printing", Content(("交易成功 APPROVED", "43.21"), PRINTING_TEXT["started"]), {}),
    ("declined", Content(("交易拒绝 DECLINED", "RC 51 insufficient funds")), {"code": "51"}),
    ("declined", Content(("交易拒绝 DECLINED", "RC 54 expired card")), {"code": "54"}),
    ("sign_in_first", Content(("请先签到 PLEASE SIGN IN",)), {}),
    ("log_in_first", Content(("请先登录 PLEASE LOG IN",)), {}),
    ("input_timeout", Content(("输入超时 INPUT TIMEOUT",)), {}),
    ("card_timeout", Content(("交易超时 TIMEOUT",)), {}),
    ("cancelled", Content(("交易取消 CANCELLED",)), {}),
    ("no_host_response", Content(("通讯超时 NO HOST RESPONSE",)), {}),
    ("comms_error", Content(("通讯失败 COMMS ERROR",)), {}),
    ("out_of_paper", Content(("打印机缺纸 PRINTER OUT OF PAPER",)), {}),
    ("signing_in", Content(("签到中 SIGNING IN",)), {}),
    ("signed_in", Content(("签到成功 SIGN-IN OK", "BATCH 000001")), {}),
    ("logged_in", Content(("操作员登录成功 LOGIN OK", "OPERATOR 01")), {}),
    ("void", Content(("消费撤销 VOID", "原凭证号 TRACE 000007", "43.21")), {}),
    ("refund", Content(("退货 REFUND", "43.21", "原参考号 RRN 123456789012")), {}),
    ("settled", Content(("结算成功 SETTLED", "BATCH 000001")), {}),
    # scan-to-pay (devices/terminal/sim/qr.py)
    ("scan_code", Content(("扫码消费 SCAN SALE", "金额 AMOUNT RMB 12.34", "请出示付款码 SHOW PAY CODE")), {}),
    ("waiting_customer", Content(("等待用户确认 WAITING FOR CUSTOMER",
                                  "请在手机上输入密码 CONFIRM ON PHONE")), {}),
    ("order_closed", Content(("订单已关闭 ORDER CLOSED", "RC FE order closed")), {}),
)
