*** Settings ***
Documentation     Sales: the terminal, the host's journal and the slip tell one story.
Resource          posrig.resource
Suite Setup       Claim Station
Suite Teardown    Release Station
Test Setup        Signed In Terminal
Test Teardown     Restore Bench


*** Test Cases ***
Chip Sale With PIN Is Approved And The Witnesses Agree
    [Tags]    case:CUP-SALE-001
    ${sale}=    Sale    12345    cup-debit-chip    entry=insert
    Should Be Equal    ${sale.status}    approved
    Should Be Equal    ${sale.entry}    chip
    Screen Should Show    approved    timeout=10
    Host Should Agree With    ${sale}    cup-debit-chip
    Receipt Should Match    ${sale}
    Cards Should Be Home

Contactless Sale Without PIN Is Approved
    [Tags]    case:CUP-SALE-002
    ${sale}=    Sale    3000    cup-debit-chip    entry=tap
    Should Be Equal    ${sale.status}    approved
    Should Be Equal    ${sale.entry}    contactless
    Should Not Contain    ${sale.prompts}    enter_pin    a small tap must not ask for a PIN
    Host Should Agree With    ${sale}    cup-debit-chip
    Receipt Should Match

Magstripe Card Swiped Is Approved With PIN
    [Tags]    case:CUP-SALE-006
    ${sale}=    Sale    2800    cup-magstripe    entry=swipe
    Should Be Equal    ${sale.status}    approved
    Should Be Equal    ${sale.entry}    swipe
    Should Contain    ${sale.prompts}    enter_pin
    ${entry}=    Host Should Agree With    ${sale}    cup-magstripe
    Should Be Equal    ${entry.entry_mode}    swipe
    Receipt Should Match

Host Decline 05 Is Shown And The Merchant Copy Says Why
    [Tags]    case:CUP-DECL-005
    Host Will Decline Next Sale With    05
    ${sale}=    Sale    2000    cup-debit-chip
    Should Be Equal    ${sale.status}    declined
    Should Be Equal    ${sale.rc}    05
    ${screen}=    Screen Should Show    declined    timeout=10
    Should Be Equal    ${screen.groups}[declined][code]    05    the screen shows the host's code
    Should Be Empty    ${sale.receipt}    a decline must not print a sale slip
    Host Should Agree With    ${sale}    cup-debit-chip
    ${slip}=    Receipt Should Match    ${sale}
    Should Be Equal    ${slip}[note]    declined 05
