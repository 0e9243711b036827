"""Phase 3: build nba_analytics.* from raw tables when phase 2 announces a load."""
