"""Partner streams tests: real RabbitMQ (a second, real RabbitMQ user per partner) and SecantusDB."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from partners_support import partners_env  # noqa: E402,F401  (fixture)
