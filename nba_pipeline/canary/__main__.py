from nba_pipeline.canary.release import main

raise SystemExit(main())
