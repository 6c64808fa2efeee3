"""What the maps mean: channel statistics, saliency and Grad-CAM, receptive fields."""
