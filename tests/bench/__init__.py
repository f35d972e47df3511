"""`make bench`: callverify against plain dialplan on the same Asterisk (issue 4).

Run it with ``python -m tests.bench`` (what ``make bench`` does); see
docs/benchmark.md for how to read the table it prints, and
tests/bench/results/baseline.json for the run to compare against.
"""
