"""Out-of-fold predicted probabilities: K-fold training (in memory or streamed), the models, given pred_probs."""
