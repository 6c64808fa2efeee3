"""Static figures: normalize_maps, the one-image grid, plot_feature_maps and plot_filters."""
