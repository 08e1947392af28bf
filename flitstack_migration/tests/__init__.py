from . import test_loader
