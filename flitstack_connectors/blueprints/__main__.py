"""``python -m flitstack_connectors.blueprints``: write the JSON Schema files from the models."""
from . import write_schemas

if __name__ == "__main__":
    for path in write_schemas():
        print(f"wrote {path}")
