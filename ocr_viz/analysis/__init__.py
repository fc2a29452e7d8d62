"""Experiments on a recorded trace: summaries, interventions, the paper's ablations, the head comparison."""
