"""image-classification: compare CNNs (scratch, transfer learning, fine-tuning) as a Kedro project."""

__version__ = "0.1.0"
