"""Processing raw data (the seed's process_data notebook) into the processed dataset."""

from .dataset import ProcessedDataset, load_processed

__all__ = ["ProcessedDataset", "load_processed"]
