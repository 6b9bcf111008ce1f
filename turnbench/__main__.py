import sys

from turnbench.cli import main

sys.exit(main())
