*** Settings ***
Documentation       Enters an approved invoice into the ERP: the robot half of the
...                 invoice-approval example. Run by a robot as the child instance of the
...                 process's `robot` service task; its outputs go back to that process.
...                 (A stand-in for a real ERP screen: it knows a few vendors.)
Library             flowport.robot.keywords

*** Variables ***
${invoice_id}       INV-0
${vendor}           ${EMPTY}
${amount}           ${0}
@{KNOWN_VENDORS}    ACME    Globex    Initech

*** Tasks ***
Vendor Exists In The ERP
    Should Contain    ${KNOWN_VENDORS}    ${vendor}    vendor '${vendor}' is not in the ERP

Enter The Invoice
    Should Be True    ${amount} > 0    the amount must be positive, not ${amount}
    ${entry}=    Set Variable    ERP-${invoice_id}
    Set Output    entry_number    ${entry}
    Log    Invoice ${invoice_id} of ${amount} from ${vendor} entered as ${entry}
