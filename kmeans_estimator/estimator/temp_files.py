"""Temporary directories of exports and checkpoint saves: held under a lock, removed once stale.

A process killed with SIGKILL while exporting leaves `temp-<version>` in the export base, and
one killed while saving leaves the Saver's `model.ckpt-N_temp` in the model directory. The
next export or save removes those that no live process can still be writing: a writer holds
an exclusive `flock` on `<temp dir>.lock` while it writes, and the kernel releases it when the
writer dies. A temporary directory without a lock file (left by an older version or another
tool) counts as stale once nothing in it changed for `STALE_AGE_SECONDS`.
"""
import contextlib
import fcntl
import os
import re
import shutil
import time

from absl import logging

LOCK_SUFFIX = ".lock"
STALE_AGE_SECONDS = 3600


@contextlib.contextmanager
def held_lock(temp_path):
    """Holds the lock that marks `temp_path` as being written, for the `with` block.

    Args:
      temp_path: the temporary directory's path (it need not exist yet).

    Where no lock file can be made (a file system that is not local), the block runs
    unlocked: such directories are then judged by their age only.
    """
    lock_path = os.fspath(temp_path) + LOCK_SUFFIX
    try:
        descriptor = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(descriptor)


def _newest_change(path):
    newest = os.stat(path).st_mtime
    for root, directories, files in os.walk(path):
        for name in directories + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def is_stale(temp_path, now=None):
    """Whether no live process can be writing `temp_path` (see the module docstring).

    Returns:
      True when its lock file is there and no one holds it, or when it has no lock file and
      nothing in it changed for `STALE_AGE_SECONDS`; False otherwise or when unsure.
    """
    now = time.time() if now is None else now
    try:
        descriptor = os.open(temp_path + LOCK_SUFFIX, os.O_RDWR)
    except FileNotFoundError:
        try:
            return now - _newest_change(temp_path) > STALE_AGE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # Held: its writer is alive.
        return False
    finally:
        os.close(descriptor)
    return True


def remove_stale(directory, name_pattern):
    """Removes the stale temporary directories in `directory` whose names match `name_pattern`.

    Args:
      directory: the export base or model directory.
      name_pattern: a regular expression matched against whole entry names.

    Returns:
      The paths removed. Failures are logged, never raised: cleaning up must not stop the
      export or save that does it.
    """
    pattern = re.compile(name_pattern)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:  # Missing, or not a local directory.
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if not pattern.fullmatch(name) or not os.path.isdir(path) or not is_stale(path):
            continue
        try:
            shutil.rmtree(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + LOCK_SUFFIX)
        except OSError as error:
            logging.warning("Could not remove the stale temporary directory %s: %s", path, error)
            continue
        logging.info("Removed the stale temporary directory %s", path)
        removed.append(path)
    return removed
