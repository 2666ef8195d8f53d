import sys

from verl_metaagent.ablate.runner import main

sys.exit(main())
