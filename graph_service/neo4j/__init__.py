"""The Neo4j backend: official driver + Graph Data Science, and a local server for dev/tests."""
