"""Chooses TensorFlow's BFC allocator for CPU memory unless the user already chose, so that
the large buffers every k-means step frees are reused instead of faulted in again."""
import os

ALLOCATOR_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def prefer_bfc_cpu_allocator() -> None:
    """Sets `TF_CPU_ALLOCATOR_USE_BFC=true` when the environment does not set it.

    TensorFlow's default CPU allocator hands large freed buffers back to the C library, and
    glibc gives them back to the operating system, so the next step touches fresh pages and
    every first touch is a page fault. The k-means graphs free and reallocate hundreds of
    megabytes each step: the score blocks of the nearest-center search, the candidate
    scores of kmeans++. In a process that has trained a model before, every Lloyd step on a
    large batch pays those faults again. The BFC allocator keeps freed buffers and reuses
    them; README "CPU memory" has what that saved.

    TensorFlow reads the variable once, when it creates its CPU allocator at its first tensor
    or session (not at `import tensorflow`), so this takes effect when `kmeans_estimator` is
    imported before any TensorFlow work has run. A process that set the variable itself, to
    either value, keeps its choice.
    """
    os.environ.setdefault(ALLOCATOR_VARIABLE, "true")
