"""Data: images, records, the format dispatcher (readers in `readers/`), augmentation, batches; imports the top-level leaves, `readers/`, and `model` only for the `Batch` type."""
