*** Settings ***
Documentation     Reversal: an unanswered sale is reversed before the next one goes out.
Resource          posrig.resource
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
    ${reversals}=    Host Journal    reversal
    Should Not Be Empty    ${reversals}
    Should Be Equal    ${reversals[-1].rc}    00
    ${status}=    Terminal Status
    Should Not Be True    ${status}[reversal_pending]
