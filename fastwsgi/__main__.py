from fastwsgi.cli import main

raise SystemExit(main())
