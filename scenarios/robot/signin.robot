*** Settings ***
Documentation     Sign-in: working keys from the host, the host's batch taken.
Resource          posrig.resource
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
