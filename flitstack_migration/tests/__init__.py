from . import test_loader
from . import test_clio_run
from . import test_cron
from . import test_clio_oauth
from . import test_map
from . import test_provisioning
from . import test_staff
from . import test_clio_custom_fields
