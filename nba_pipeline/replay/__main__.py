"""`python -m nba_pipeline.replay` runs the upstream replay server."""

from nba_pipeline.replay.app import main

main()
