*** Settings ***
Documentation     Settlement: a balanced batch is closed and the next one opened.
Resource          posrig.resource
Test Setup        Signed In Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Settlement Of A Balanced Batch Opens The Next
    [Tags]    case:CUP-SETTLE-001
    ${sale}=    Sale    5000    cup-debit-chip
    Should Be Equal    ${sale.status}    approved
    ${settled}=    Settle
    Should Be Equal    ${settled}[status]    ok
    Should Be True    ${settled}[balanced]
    Should Be Equal As Integers    ${settled}[next_batch]    ${sale.batch + 1}
