"""Training on the audited data with a clean test set: strategies, data, evaluation, saved models."""
