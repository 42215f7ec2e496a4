pytest_plugins = ["tests.pg_fixture"]
