from . import oauth
from . import blueprints
