from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    _shared_app,
    admin,
    api_settings,
    app,
    as_,
    client,
    context,
    factory,
    make_context,
    people,
    secret_hashes,
    tokens,
)
from tests.sync.conftest import central, hub, org_id  # noqa: F401
