"""The model behind docs/images/tensorboard_*.png (docs/make_screenshots.sh): mini-batch KMeans,
6 clusters of 3-d points, summaries every 2 steps, four train() calls of 25 steps."""
import os

import numpy as np

import kmeans_estimator as ke

rng = np.random.default_rng(0)
centers = rng.uniform(-10, 10, (6, 3)).astype(np.float32)
points = (centers[rng.integers(0, 6, 3000)] + rng.standard_normal((3000, 3))).astype(np.float32)
config = ke.RunConfig(save_summary_steps=2, log_step_count_steps=5)
km = ke.KMeans(6, model_dir=os.environ["MODEL_DIR"], use_mini_batch=True, config=config, seed=3)
fn = ke.inputs.numpy_input_fn(points, batch_size=256, num_epochs=None, shuffle=True)
for _ in range(4):
    km.train(fn, steps=25)
