import sys

from clara_benchmark.cli import main

sys.exit(main())
