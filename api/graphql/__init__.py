"""The investigators' GraphQL API: schema, per-request DataLoaders, limits, error codes."""
