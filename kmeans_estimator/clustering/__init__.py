"""k-means as graph ops: distances, initial centers and center updates; no Estimator here."""
