"""`nba-pipeline bench`: latency, throughput and cost of the pipeline against its physical limits.

Every figure that moves with machine load comes with a ratio to a floor measured in the same
run (bare emulator push, in-process parse + load, a no-op app), so two runs on different
machines compare by their ratios. One module per measurement; `command.run` strings them.
"""
