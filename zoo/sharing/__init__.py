"""Sharing a trained model: the safetensors format (weights), run folder to file and back (exports), the model
card."""
