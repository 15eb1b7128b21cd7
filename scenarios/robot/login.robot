*** Settings ***
Documentation     Operator login: the right password, a wrong one, and the lock-out.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Fresh Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Right Password Logs The Operator In
    [Tags]    case:CUP-LOGIN-001
    ${login}=    Log In Operator
    Should Be Equal    ${login.status}    ok

Wrong Password Is Refused
    [Tags]    case:CUP-LOGIN-002
    ${login}=    Log In Operator    password=999999
    Should Be Equal    ${login.status}    refused
    Should Be Equal    ${login.data}[reason]    wrong_password

Three Wrong Passwords Lock The Operator Out
    [Tags]    case:CUP-LOGIN-003
    FOR    ${attempt}    IN RANGE    3
        ${login}=    Log In Operator    password=999999
    END
    Should Be Equal    ${login.data}[reason]    locked
    ${login}=    Log In Operator
    Should Be Equal    ${login.data}[reason]    locked    the right password must not unlock a locked operator
