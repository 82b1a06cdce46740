"""Processing raw data (the seed's process_data notebook) into the processed dataset."""

from .dataset import ProcessedDataset, load_processed
from .pipeline import process, write_processed
from .schema import DatasetSchema, infer_schema, load_schema
from .summary import dataset_summary

__all__ = ["DatasetSchema", "ProcessedDataset", "dataset_summary", "infer_schema", "load_processed", "load_schema",
           "process", "write_processed"]
