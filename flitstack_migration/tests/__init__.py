from . import test_loader
from . import test_clio_run
from . import test_cron
from . import test_map
