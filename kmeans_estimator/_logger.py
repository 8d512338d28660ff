"""The logger every module of the package writes to: TensorFlow's `tensorflow` logger.

tf.estimator logged through `tf.compat.v1.logging`, so programs written for it show its
lines with `tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)` and capture
them with handlers on the `tensorflow` Python logger. Writing to that logger (not to
absl's) keeps both working here. `tf.get_logger()` returns it with TensorFlow's own
handler set up, as the first `tf.compat.v1.logging` call would; its default level
(WARNING) keeps the INFO lines quiet until a program asks for them.
"""
import tensorflow as tf

log = tf.get_logger()
