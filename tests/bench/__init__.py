"""`make bench`: callverify against plain dialplan on the same Asterisk (issue 4).

Run it with ``python -m tests.bench`` (what ``make bench`` does); see README.md,
section "Benchmark", for how to read the table it prints.
"""
