"""Live views in a notebook: the explorer, the convolution playground, draw-a-digit and its network view."""
