"""The component tests' fixtures: the import component's come from the pipeline tests, the
export component's (a stand-in seeded as the export tests seed it) from the export tests."""

from stripe_customer_assets_tests.export.conftest import (  # noqa: F401 - fixtures
    accounts_table,
    api,
    schemas,
    standin,
    syncer,
)
from stripe_customer_assets_tests.pipeline.conftest import (  # noqa: F401 - fixtures
    duck_mirror,
    mirror,
    module_mirror,
    table,
    target_schema,
)
