"""`python -m kmeans_estimator SCRIPT.py [ARGS...]`: run a program written for tf.estimator, unmodified.

The script runs as `__main__`, as `python SCRIPT.py ARGS...` would run it, after
`install_tf_estimator_alias()` has made `tf.estimator`, `tf.compat.v1.estimator` and
`tensorflow_estimator` resolve to kmeans-estimator; its exit status is the process's.
"""
import os
import runpy
import sys

from kmeans_estimator.tf_estimator_alias import install_tf_estimator_alias

USAGE = """\
usage: python -m kmeans_estimator SCRIPT.py [ARGS...]
       python -m kmeans_estimator -m MODULE [ARGS...]

Runs SCRIPT.py (or MODULE) as __main__ with ARGS as its sys.argv[1:], after
kmeans_estimator.install_tf_estimator_alias(): tf.estimator, tf.compat.v1.estimator
(with experimental.KMeans and inputs) and `import tensorflow_estimator` resolve to
kmeans-estimator, so that a program written for TensorFlow's Estimator runs unmodified
on TensorFlow 2.16+. A name kmeans-estimator does not provide raises AttributeError."""


def main(argv):
    """Run the script or module `argv` names with the alias installed.

    Args:
      argv: the command line after `python -m kmeans_estimator`: `SCRIPT.py ARGS...` or
        `-m MODULE ARGS...`.

    Returns:
      2 (after printing the usage or the reason to stderr) when `argv` names nothing to run;
      0 when the script ends normally. The script's own `sys.exit(status)` and uncaught
      exceptions propagate, so the process ends as `python SCRIPT.py` would.
    """
    if not argv or argv[0] in ("-h", "--help") or argv == ["-m"]:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "-m":
        install_tf_estimator_alias()
        sys.argv = argv[1:]
        # As `python -m MODULE`: sys.path[0] stays the working directory, argv[0] becomes the file.
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"python -m kmeans_estimator: can't open file {script!r}: no such file or directory",
              file=sys.stderr)
        return 2
    install_tf_estimator_alias()
    sys.argv = list(argv)
    # As `python SCRIPT.py`: the script's directory where `python -m` put the working directory.
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
