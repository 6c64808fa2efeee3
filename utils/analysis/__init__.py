"""What the maps mean: channel statistics, saliency, guided backpropagation and Grad-CAM, receptive fields, and
the tools that test a claim by changing the input or the model: occlusion, channel ablation."""
