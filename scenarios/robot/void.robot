*** Settings ***
Documentation     Void: the supervisor's password, the same card, one void per sale.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Signed In Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Void With The Supervisor Password Is Approved
    [Tags]    case:CUP-VOID-001
    ${sale}=    Sale    4200    cup-debit-chip
    Should Be Equal    ${sale.status}    approved
    ${void}=    Void Last Sale    cup-debit-chip
    Should Be Equal    ${void.status}    approved
    Host Should Agree With    ${void}    cup-debit-chip
    Receipt Should Match    ${void}

Void With A Wrong Supervisor Password Is Refused
    [Tags]    case:CUP-VOID-002
    ${sale}=    Sale    4300    cup-debit-chip
    ${void}=    Void Last Sale    cup-debit-chip    supervisor_password=000000
    Should Be Equal    ${void.status}    refused
    Should Be Equal    ${void.reason}    wrong_supervisor_password

A Voided Sale Cannot Be Voided Again
    [Tags]    case:CUP-VOID-003
    ${sale}=    Sale    4400    cup-debit-chip
    ${void}=    Void Last Sale    cup-debit-chip
    Should Be Equal    ${void.status}    approved
    ${again}=    Void Last Sale    cup-debit-chip
    Should Be Equal    ${again.reason}    already_voided
