"""Evaluation: attribute classifier, Inception FID/KID, conditioning metrics and `python -m gan evaluate`."""
