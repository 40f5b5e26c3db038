"""Graph neural network jobs: datasets from ``GraphStore`` exports, training, inference."""
