"""Converts an amount at a fixed exchange rate: an example Python package for Flowport.

A robot runs it with its inputs in the JSON file named by FLOWPORT_INPUT; it writes its
outputs, a JSON object, to the file named by FLOWPORT_OUTPUT. What it prints becomes the
instance's log; a non-zero exit fails the instance.
"""

import json
import os
import sys

RATES = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "CHF": 0.95}

with open(os.environ["FLOWPORT_INPUT"], encoding="utf-8") as source:
    inputs = json.load(source)

currency = inputs.get("currency", "USD")
if currency not in RATES:
    sys.exit(f"no rate for {currency!r}; known: {', '.join(RATES)}")
amount = float(inputs.get("amount", 1))
converted = round(amount * RATES[currency], 2)
print(f"{amount} EUR is {converted} {currency}")

with open(os.environ["FLOWPORT_OUTPUT"], "w", encoding="utf-8") as target:
    json.dump({"currency": currency, "rate": RATES[currency], "converted": converted}, target)
