"""Deploying to Cloud Run: `settings` (from the environment), `gcloud` (the commands and the
files they read), `cli` (`nba-pipeline deploy`). The canary release (nba_pipeline/canary/)
builds on the same pieces."""
