"""Training and evaluation on CamVid: the training loop, metrics, evaluation, shipped results."""
