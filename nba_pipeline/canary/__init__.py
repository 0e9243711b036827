"""Canary releases on Cloud Run: a tagged revision with no traffic, a share of the traffic
while Cloud Monitoring shows its error rate and latency, then promotion or rollback.

`python -m nba_pipeline.canary {deploy|promote|rollback} SERVICE` (`make deploy-canary`,
`make promote`, `make rollback`); docs/deploy.md explains it.
"""
