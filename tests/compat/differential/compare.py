"""Field-by-field comparison of two records: what the original observed against what ours did."""
import math

# Floats agree when within this relative tolerance (or this absolute one near zero): the two
# sides run different TensorFlow releases and kernels, which round differently.
RELATIVE_TOLERANCE = 1e-4
ABSOLUTE_TOLERANCE = 1e-4


def mismatches(original, ours, path="", skip=()):
    """Where `ours` differs from `original`, as `"path: original -> ours"` lines ([] when equal).

    Top-level fields named in `skip` are left out.
    """
    if isinstance(original, dict) and isinstance(ours, dict):
        found = []
        for key in sorted(set(original) | set(ours)):
            if not path and key in skip:
                continue
            where = f"{path}.{key}" if path else key
            if key not in original or key not in ours:
                found.append(f"{where}: {original.get(key, '<absent>')!r} -> {ours.get(key, '<absent>')!r}"[:400])
            else:
                found.extend(mismatches(original[key], ours[key], where))
        return found
    if isinstance(original, list) and isinstance(ours, list) and len(original) == len(ours):
        found = []
        for index, (left, right) in enumerate(zip(original, ours)):
            found.extend(mismatches(left, right, f"{path}[{index}]"))
        return found
    if _numbers(original, ours):
        if math.isclose(original, ours, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE):
            return []
    elif original == ours:
        return []
    return [f"{path}: {original!r} -> {ours!r}"[:400]]


def _numbers(*values):
    return all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
