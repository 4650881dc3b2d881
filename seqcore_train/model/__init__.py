"""The detector: backbones, features, coreset, scoring, tiles, model file; imports only its own modules and the top-level leaves (errors, devices, model_defaults)."""
