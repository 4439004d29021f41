"""Use cases: every write goes through a service method, and each method is one transaction."""
