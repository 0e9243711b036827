"""Phase 2: load raw files into nba_raw.* idempotently, publish nba-phase2-complete."""
