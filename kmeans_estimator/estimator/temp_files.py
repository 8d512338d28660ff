"""Temporary directories of exports and checkpoint saves: held under a lock, removed once stale.

A process killed with SIGKILL while exporting leaves `temp-<version>` in the export base, and
one killed while saving leaves the sharded Saver's `model.ckpt-N_temp` in the model directory.
The next export or save removes those that no live process can still be writing.

The protocol, for a temporary directory `<dir>`:

* A writer takes an exclusive `flock` on `<dir>.lock` BEFORE `<dir>` is created and keeps it
  until `<dir>` has been renamed into place (export) or merged and removed by the Saver
  (checkpoint save); then it unlinks `<dir>.lock` while still holding it. The kernel releases
  the lock when the writer dies, whatever kills it.
* A cleaner judges `<dir>` stale when `<dir>.lock` exists and a non-blocking `flock` on it
  succeeds (its writer is dead), or when there is no `<dir>.lock` and nothing in `<dir>`
  changed for `STALE_AGE_SECONDS` (left by an older version or another tool). It removes a
  locked-stale `<dir>` while holding the lock, then unlinks `<dir>.lock`, so that no writer can
  take over the name meanwhile. A `<dir>.lock` without `<dir>` whose lock is free (its writer
  died just before creating `<dir>` or just after renaming it) is unlinked too.
* Whoever takes a lock checks afterwards that the file it locked is still the one at
  `<dir>.lock`: if its holder unlinked it meanwhile, the lock is taken again on the new file.

Cleaning up never raises: its failures are logged to the `tensorflow` logger (`kmeans_estimator._logger`).
"""
import contextlib
import fcntl
import os
import re
import shutil
import time

from kmeans_estimator._logger import log

LOCK_SUFFIX = ".lock"
STALE_AGE_SECONDS = 3600


def lock_path(temp_path):
    """The lock file of a temporary directory.

    Args:
      temp_path: the temporary directory's path (str or os.PathLike).

    Returns:
      `<temp_path>.lock`, as str.
    """
    return os.fspath(temp_path) + LOCK_SUFFIX


def _is_current(descriptor, path):
    """Whether the open file `descriptor` is still the file named `path`."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _lock(path, blocking, create):
    """Locks the file now at `path`, retrying when it was unlinked while we waited.

    Returns:
      The locked descriptor, or None when not blocking and another process holds the lock,
      or (with `create` False) when there is no file at `path`.
    """
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        if _is_current(descriptor, path):
            return descriptor
        os.close(descriptor)
        if not create:
            return None


class TempLock:
    """The exclusive lock that marks one temporary directory as being written.

    Args:
      temp_path: the temporary directory's path; it need not exist yet.
    """

    def __init__(self, temp_path):
        self.path = lock_path(temp_path)
        self._descriptor = None
        self._held = False

    def acquire(self, blocking=True):
        """Takes the lock, creating the lock file.

        Args:
          blocking: wait while another process holds it; otherwise give up at once.

        Returns:
          True when the caller may write the directory: the lock is held, or no lock file
          can be made here (a file system that is not local: such directories are then judged
          by their age only). False when not blocking and another process holds it.
        """
        try:
            self._descriptor = _lock(self.path, blocking, create=True)
        except OSError as error:
            log.warning("Writing without the lock %s, which cannot be made: %s", self.path, error)
            self._held = True
            return True
        self._held = self._descriptor is not None
        return self._held

    def release(self, unlink=True):
        """Releases the lock.

        Args:
          unlink: also remove the lock file (before releasing, so that nobody locks it in
            between). False leaves it, for a directory this writer did not create.
        """
        if self._descriptor is not None:
            if unlink:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            os.close(self._descriptor)
        self._descriptor = None
        self._held = False

    def __enter__(self):
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc_info):
        self.release()


def held_lock(temp_path):
    """Holds the lock of `temp_path` for a `with` block, waiting for it if need be.

    Args:
      temp_path: the temporary directory's path; the block may create it.

    Returns:
      A context manager; the lock file is unlinked when the block ends, however it ends.
    """
    return TempLock(temp_path)


def _newest_change(path):
    """The newest modification time of `path` and of everything under it."""
    newest = os.stat(path).st_mtime
    for root, directories, files in os.walk(path):
        for name in directories + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _is_old(temp_path):
    """Whether nothing in the lockless `temp_path` changed for `STALE_AGE_SECONDS`."""
    try:
        return time.time() - _newest_change(temp_path) > STALE_AGE_SECONDS
    except OSError:
        return False


def _remove_directory(temp_path):
    """Removes a stale directory, under its lock when it has a lock file; True if removed."""
    path = lock_path(temp_path)
    descriptor = None
    if os.path.exists(path):
        descriptor = _lock(path, blocking=False, create=False)
        if descriptor is None:  # Held by a live writer, or just unlinked by a finished one.
            return False
    elif not _is_old(temp_path):
        return False
    try:
        try:
            shutil.rmtree(temp_path)
        except FileNotFoundError:  # Renamed into place or merged meanwhile: not ours to count.
            return False
        if descriptor is not None:
            os.unlink(path)
        return True
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _remove_orphan_lock(path, temp_path):
    """Unlinks a lock file without its directory when nobody holds it; True if unlinked."""
    descriptor = _lock(path, blocking=False, create=False)
    if descriptor is None:
        return False
    try:
        # A writer creates its directory only while holding this lock, so none can appear now.
        if os.path.lexists(temp_path):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(descriptor)


def remove_stale(directory, name_pattern):
    """Removes the stale temporary directories in `directory` whose names match `name_pattern`.

    Also unlinks their free lock files that have no directory.

    Args:
      directory: the export base or model directory.
      name_pattern: a regular expression matched against whole directory names (without
        the `.lock` suffix).

    Returns:
      The paths removed, as a list of str. Failures are logged, never raised: cleaning up
      must not stop the export or save that does it.
    """
    pattern = re.compile(name_pattern)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:  # Missing, or not a local directory.
        return removed
    for name in names:
        path = os.path.join(directory, name)
        try:
            if pattern.fullmatch(name) and os.path.isdir(path) and not os.path.islink(path):
                done = _remove_directory(path)
            elif name.endswith(LOCK_SUFFIX) and pattern.fullmatch(name[:-len(LOCK_SUFFIX)]):
                done = _remove_orphan_lock(path, path[:-len(LOCK_SUFFIX)])
            else:
                continue
        except OSError as error:
            log.warning("Could not remove the stale temporary file or directory %s: %s",
                        path, error)
            continue
        if done:
            log.info("Removed the stale temporary file or directory %s", path)
            removed.append(path)
    return removed
