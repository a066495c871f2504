"""Multi-annotator exports: reading them, consensus, annotator quality, what to label next, a simulator."""
