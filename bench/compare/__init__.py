"""`python -m bench.compare` (`make bench-compare`): PRISM against PostGraphile v5 on the same database and data."""
