"""Graph neural network jobs: datasets from ``GraphStore`` exports, training, inference.

``dataset`` builds point-in-time PyG graphs, ``labels`` turns labels into time-split
examples (fraud against legit labels, or against unlabelled accounts when legit labels are
missing), ``pu`` holds the positive-unlabelled losses and figures, ``sampling`` draws fixed
fan-out mini-batches, ``models`` holds the heterogeneous GNNs, ``training`` trains them,
``comparison`` sets them against gradient boosting, ``registry`` stores versions,
``champion`` decides promotions, ``inference`` writes ``gnn_score`` and ``monitoring``
records score drift. Only ``graph_service`` is imported.
"""
