"""The data library: getting images onto disk (sources, downloads, Kaggle, archives), labelling, decoding, resizing.

Knows nothing of Kedro; the ``ingest``, ``preprocess`` and ``predict`` pipelines call it.
"""
