"""Converters of public data sets into fraudgraph's input files: events, labels and the
ground truth the evaluation reads (``ring_id, typology, account_id``)."""

from ingestion.converters.amlsim import AmlsimConversion, convert_amlsim

__all__ = ["AmlsimConversion", "convert_amlsim"]
