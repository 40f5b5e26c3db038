"""Input schemas, readers, normalisation, validation + quarantine, loading into a ``GraphStore``,
and the synthetic scenario generator. Imports only ``graph_service``; computes no scores."""
