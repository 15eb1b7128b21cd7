*** Settings ***
Documentation     Scan-to-pay, both ways: the customer's payment code held to the terminal's
...               scanner (C2B), and the terminal's code paid by the customer's wallet (B2C);
...               void, refund and settlement of QR payments (docs/qr.md).
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Signed In Terminal
Test Teardown     Restore Bench


*** Keywords ***
Scan Sale
    [Documentation]    A scan sale of ``amount`` with ``code`` held to the scanner.
    [Arguments]    ${amount}    ${code}
    Start Scan Sale    ${amount}
    Present Payment Code    ${code}
    ${sale}=    Scan Sale Answer
    RETURN    ${sale}

Paid Order
    [Documentation]    An order of ``amount`` whose code on the screen the wallet pays.
    [Arguments]    ${amount}
    Start Order By Code    ${amount}
    Pay Code On Screen
    ${order}=    Order By Code Answer
    Should Be Equal    ${order.status}    approved
    RETURN    ${order}


*** Test Cases ***
A Scanned Payment Code Is Approved
    [Tags]    case:CUP-QR-C2B-001
    ${code}=    Payment Code    wallet=01
    Start Scan Sale    2345
    Screen Should Show    scan_code
    Present Payment Code    ${code}
    ${sale}=    Scan Sale Answer
    Should Be Equal    ${sale.status}    approved
    Should Be Equal    ${sale.raw}[wallet]    01
    QR Payment Should Be Witnessed    ${sale}
    Screen Should Show    approved

An Expired Payment Code Is Declined
    [Tags]    case:CUP-QR-C2B-002
    ${code}=    Payment Code    wallet=02    outcome=expired
    ${sale}=    Scan Sale    1200    ${code}
    Should Be Equal    ${sale.rc}    54
    QR Payment Should Be Witnessed    ${sale}

A Payment Code Used Twice Is Declined The Second Time
    [Tags]    case:CUP-QR-C2B-003
    ${code}=    Payment Code
    ${first}=    Scan Sale    800    ${code}
    Should Be Equal    ${first.status}    approved
    ${again}=    Scan Sale    800    ${code}
    Should Be Equal    ${again.rc}    54
    QR Payment Should Be Witnessed    ${again}

The Customer Confirms On The Phone And The Terminal Polls Until Approved
    [Tags]    case:CUP-QR-C2B-004
    ${code}=    Payment Code    outcome=pending:3:approve
    ${sale}=    Scan Sale    5000    ${code}
    Should Be Equal    ${sale.status}    approved
    QR Payment Should Be Witnessed    ${sale}

The Customer Never Confirms And The Terminal Reverses
    [Tags]    case:CUP-QR-C2B-005
    ${code}=    Payment Code    wallet=01    outcome=pending:forever
    ${sale}=    Scan Sale    6100    ${code}
    Should Be Equal    ${sale.reason}    qr_timeout
    QR Payment Should Be Reversed    ${sale}

The Code On The Screen Is Paid By The Wallet
    [Tags]    case:CUP-QR-B2C-001
    ${order}=    Paid Order    3456
    Should Be Equal    ${order.raw}[flow]    b2c
    QR Payment Should Be Witnessed    ${order}

A Code On The Screen Left Unpaid Is Reversed
    [Tags]    case:CUP-QR-B2C-002
    Start Order By Code    990
    Code On Screen
    ${order}=    Order By Code Answer
    Should Be Equal    ${order.reason}    qr_timeout
    QR Payment Should Be Reversed    ${order}

Void Of A Scanned Sale
    [Tags]    case:CUP-QR-VOID-001
    ${code}=    Payment Code
    ${sale}=    Scan Sale    2200    ${code}
    ${void}=    Void QR Payment    ${sale}
    Should Be Equal    ${void.status}    approved
    QR Payment Should Be Witnessed    ${void}

Void Of An Order Paid From The Screen
    [Tags]    case:CUP-QR-VOID-002
    ${order}=    Paid Order    1800
    ${void}=    Void QR Payment    ${order}
    Should Be Equal    ${void.status}    approved
    QR Payment Should Be Witnessed    ${void}

Partial Refund Of A Scanned Sale
    [Tags]    case:CUP-QR-REFUND-001
    ${code}=    Payment Code    wallet=02
    ${sale}=    Scan Sale    2345    ${code}
    ${part}=    Refund QR Payment    ${sale}    1000
    Should Be Equal    ${part.status}    approved
    QR Payment Should Be Witnessed    ${part}
    ${too_much}=    Refund QR Payment    ${sale}    2000
    Should Be Equal    ${too_much.rc}    13

Refund Of A Paid Order By Its Voucher
    [Tags]    case:CUP-QR-REFUND-002
    ${order}=    Paid Order    2600
    ${refund}=    Refund QR Payment    ${order}    by_voucher=${True}
    Should Be Equal    ${refund.status}    approved
    QR Payment Should Be Witnessed    ${refund}

Settlement Counts QR Payments And Balances
    [Tags]    case:CUP-QR-SETTLE-001
    ${code}=    Payment Code    wallet=02
    ${sale}=    Scan Sale    1500    ${code}
    ${order}=    Paid Order    2500
    ${void}=    Void QR Payment    ${order}
    ${refund}=    Refund QR Payment    ${sale}    500
    ${settled}=    Settle
    Should Be Equal    ${settled}[status]    ok
    Should Be True    ${settled}[balanced]
    ${slip}=    Settlement Slip Should Match
    Should Be Equal    ${slip}[note]    balanced
