"""Phase 1: fetch upstreams, store raw files, publish nba-scraper-complete."""
