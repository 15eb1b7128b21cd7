*** Settings ***
Documentation     Settlement: a balanced batch is closed and the next one opened; an unbalanced
...               one is uploaded first.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
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
    ${slip}=    Settlement Slip Should Match
    Should Be Equal    ${slip}[note]    balanced

Unbalanced Settlement Uploads The Batch
    [Tags]    case:CUP-SETTLE-002
    ${first}=    Settle
    Should Be Equal    ${first}[status]    ok    the batch earlier tests left must close first
    Sale    2000    cup-magstripe    entry=swipe
    Sale    2100    cup-credit-chip
    Host Will Report Next Settlement Unbalanced
    ${settled}=    Settle
    Should Be Equal    ${settled}[status]    ok
    Should Not Be True    ${settled}[balanced]
    Should Be Equal As Integers    ${settled}[uploaded]    2
    ${slip}=    Settlement Slip Should Match
    Should Be Equal    ${slip}[note]    unbalanced
    ${uploads}=    Host Journal    batch_upload
    Should Start With    ${uploads[-1].note}    202
    Should Be Equal    ${uploads[-1].state}    clean
