"""Reading a model's layers with forward hooks: capture, get_feature_maps, FeatureMaps, layer names and
the guards around a helper's forward pass."""
