"""Training and evaluating clara's own models: the train and evaluate commands."""
