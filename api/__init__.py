"""The HTTP service: GraphQL for investigators and the cached feature path for the scorer."""
