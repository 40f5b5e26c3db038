"""Graph neural network jobs: datasets from ``GraphStore`` exports, training, inference.

``dataset`` builds point-in-time PyG graphs and time-split labels, ``sampling`` draws
fixed fan-out mini-batches, ``models`` holds the heterogeneous GNNs, ``training`` trains
them, ``comparison`` sets them against gradient boosting, ``registry`` stores versions,
``champion`` decides promotions, ``inference`` writes ``gnn_score`` and ``monitoring``
records score drift. Only ``graph_service`` is imported.
"""
