*** Settings ***
Documentation     Sign-in: working keys from the host, the host's batch taken, and a new
...               sign-in whenever the host orders one.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Fresh Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Sign-In Exchanges Working Keys And Takes The Host's Batch
    [Tags]    case:CUP-SIGNIN-001
    ${signin}=    Sign In
    Should Be Equal    ${signin.status}    ok
    ${journal}=    Host Journal    signin
    Should Be Equal    ${journal[-1].rc}    00
    Should Be Equal As Integers    ${journal[-1].batch}    ${signin.batch}
    ${status}=    Terminal Status
    Should Be True    ${status}[signed_in]

Host-Ordered Sign-In Is Obeyed Before The Next Sale
    [Tags]    case:CUP-SIGNIN-004
    Sign In
    Host Will Order Sign In With Next Sale
    ${ordered}=    Sale    1400    cup-debit-chip
    Should Be Equal    ${ordered.status}    approved
    ${refused}=    Sale    1500    cup-debit-chip
    Should Be Equal    ${refused.status}    refused
    Should Be Equal    ${refused.reason}    not_signed_in
    ${signin}=    Sign In
    Should Be Equal    ${signin.status}    ok
    ${again}=    Sale    1500    cup-debit-chip
    Should Be Equal    ${again.status}    approved
