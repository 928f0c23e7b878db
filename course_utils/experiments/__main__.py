"""``python -m course_utils.experiments``."""

import sys

from course_utils.experiments.cli import main

sys.exit(main())
