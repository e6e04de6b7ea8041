import sys

from approval_ledger.cli import main

sys.exit(main())
