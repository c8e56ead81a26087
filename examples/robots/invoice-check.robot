*** Settings ***
Documentation       Checks an invoice: an example Robot Framework package for Flowport.
...                 Its inputs arrive as variables (${invoice_id}, ${amount}); it sets its
...                 outputs with the keywords of flowport.robot.keywords.
Library             flowport.robot.keywords

*** Variables ***
${invoice_id}       INV-0
${amount}           ${0}

*** Tasks ***
Amount Is Positive
    Should Be True    ${amount} > 0    the amount must be positive, not ${amount}

Small Invoices Are Approved
    ${approved}=    Evaluate    ${amount} <= 1000
    Set Output    approved    ${approved}
    Set Output    checked_invoice    ${invoice_id}
    Log    Invoice ${invoice_id} of ${amount}: approved is ${approved}
