"""The declarative base, naming convention, system columns and column types every
table is built on. Kept outside ``core.models``: each domain's models module imports
this, and ``core.models`` (which gathers every domain's tables) imports those, so the
base living inside ``core.models`` made every domain models module a cycle.
"""
