*** Settings ***
Documentation     Reversal: a sale without an answer is reversed before the next one goes out,
...               whether the host fell silent or the terminal lost its power.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Signed In Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Unanswered Sale Is Reversed Before The Next Sale
    [Tags]    case:CUP-HOST-002
    Host Will Hang Up On Next Sale
    ${lost}=    Sale    2300    cup-debit-chip
    Should Be Equal    ${lost.status}    failed
    ${status}=    Terminal Status
    Should Be True    ${status}[reversal_pending]
    ${next}=    Sale    2400    cup-debit-chip
    Should Be Equal    ${next.status}    approved
    Receipt Should Match    ${next}
    ${reversals}=    Host Journal    reversal
    Should Not Be Empty    ${reversals}
    Should Be Equal    ${reversals[-1].rc}    00
    Should Start With    ${reversals[-1].note}    reason 98
    ${status}=    Terminal Status
    Should Not Be True    ${status}[reversal_pending]

Power Cut Mid-Sale Is Reversed First After Sign-In
    [Tags]    case:CUP-REV-001
    Host Will Not Answer Next Sale
    ${cut}=    Sale Cut By Power Loss    8800    cup-debit-chip
    Should Be Equal    ${cut.status}    interrupted
    ${status}=    Restore Power
    Should Be True    ${status}[reversal_pending]
    ${signin}=    Sign In
    Should Be Equal    ${signin.status}    ok
    ${next}=    Sale    1200    cup-debit-chip
    Should Be Equal    ${next.status}    approved
    Receipt Should Match    ${next}
    ${reversals}=    Host Journal    reversal
    Should Be Equal    ${reversals[-1].state}    undone
    Should Start With    ${reversals[-1].note}    reason 98
    Should Be Equal As Integers    ${reversals[-1].amount}    8800
    ${sales}=    Host Journal    sale
    Should Be Equal    ${sales[-2].state}    reversed    the host's journal must show the sale undone
