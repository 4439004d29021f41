"""PRISM's benchmark: a real server, a seeded database and two GraphQL operations under load (`make bench`).

Not a test: it measures throughput, latency, server CPU and SQL per request, checks every answer, and writes a
table to stdout and a JSON file to bench/results/. docs/performance.md explains the method and the figures.
"""
