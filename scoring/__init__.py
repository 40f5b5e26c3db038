"""Graph algorithms, entity and ring features, ring scores with reasons, the feature cache."""
