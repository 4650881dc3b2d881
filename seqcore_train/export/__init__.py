"""Exports: a fitted model as one graph (ONNX / TorchScript), any DATA in MVTec AD layout; imports the model, data and the top-level leaves, never the front ends."""
