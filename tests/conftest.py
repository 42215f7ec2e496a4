pytest_plugins = ["tests.pg_fixture", "tests.store_fixture"]
