"""`tf.estimator`, `tf.compat.v1.estimator` and `tensorflow_estimator` as names of this package, on request.

TensorFlow 2.16 has no `tf.estimator`; `install_tf_estimator_alias()` gives it back, pointing at
kmeans-estimator's classes, so that a program written for the original runs with no line changed
(`python -m kmeans_estimator SCRIPT.py` calls it before the script). `import kmeans_estimator`
never calls it: the alias changes what every later `import tensorflow` sees, so it is opt-in.
"""
import importlib
import importlib.abc
import sys
import types

PROVIDES = "kmeans-estimator provides KMeans and the Estimator machinery only"

# What each namespace of the original held, among the names this package provides. A name the
# original did not have there stays missing here too, so that a program behaves as it did.
_TOP_LEVEL = (
    "BestExporter", "CheckpointSaverHook", "CheckpointSaverListener", "Estimator", "EstimatorSpec",
    "EvalSpec", "Exporter", "FeedFnHook", "FinalExporter", "FinalOpsHook", "GlobalStepWaiterHook",
    "LatestExporter", "LoggingTensorHook", "ModeKeys", "NanLossDuringTrainingError", "NanTensorHook",
    "ProfilerHook", "RunConfig", "SecondOrStepTimer", "SessionRunArgs", "SessionRunContext",
    "SessionRunHook", "SessionRunValues", "StepCounterHook", "StopAtStepHook", "SummarySaverHook",
    "TrainSpec", "VocabInfo", "WarmStartSettings", "train_and_evaluate",
)
_RECEIVERS = (
    "ServingInputReceiver", "TensorServingInputReceiver", "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
)
_OUTPUTS = ("ClassificationOutput", "EvalOutput", "ExportOutput", "PredictOutput", "RegressionOutput")
_INPUTS = ("numpy_input_fn", "pandas_input_fn")
_EXPERIMENTAL = {
    "v1": ("KMeans", "build_raw_supervised_input_receiver_fn"),
    "v2": ("build_raw_supervised_input_receiver_fn",),
}
# Names the v2 API of the original never had, though its v1 API did.
_V1_ONLY = {
    "": {"inputs": "tf.compat.v1.estimator.inputs"},
    "experimental": {"KMeans": "tf.compat.v1.estimator.experimental.KMeans"},
}

# Modules of the tensorflow_estimator package that programs import from, by path under
# tensorflow_estimator.python.estimator, with the names each held.
_SOURCE_MODULES = {
    "estimator": ("Estimator", "VocabInfo", "WarmStartSettings"),
    "estimator_lib": _TOP_LEVEL,
    "run_config": ("RunConfig",),
    "model_fn": ("EstimatorSpec", "ModeKeys"),
    "mode_keys": ("ModeKeys",),
    "training": ("EvalSpec", "TrainSpec", "train_and_evaluate"),
    "exporter": ("BestExporter", "Exporter", "FinalExporter", "LatestExporter"),
    "export.export": _RECEIVERS + ("SupervisedInputReceiver", "build_raw_supervised_input_receiver_fn"),
    "export.export_output": _OUTPUTS + ("TrainOutput",),
    "export.export_lib": _RECEIVERS + _OUTPUTS + (
        "SupervisedInputReceiver", "TrainOutput", "build_raw_supervised_input_receiver_fn"),
    "inputs.inputs": _INPUTS,
    "inputs.numpy_io": ("numpy_input_fn",),
    "inputs.pandas_io": ("pandas_input_fn",),
    # The original's own tests also call its module's `_parse_features_if_necessary`.
    "canned.kmeans": ("KMeansClustering", "_parse_features_if_necessary"),
}


class AliasModule(types.ModuleType):
    """A namespace of the original holding kmeans-estimator's objects; a missing name says so.

    `name` is the module's import name (`tensorflow.estimator`), the one `sys.modules` knows it
    by, as the import system needs; messages use `display`, the name programs write
    (`tf.estimator`). It is a package (an empty `__path__`), so that importing a submodule the
    alias does not provide reaches `_AliasFinder` and its message rather than "is not a package".
    """

    def __init__(self, name, attributes, hints=None, display=None):
        super().__init__(name)
        self.__dict__.update(attributes)
        self.__file__ = __file__
        self.__path__ = []
        self._display = display or name
        self._hints = dict(hints or {})

    def __getattr__(self, name):
        display = self.__dict__.get("_display", self.__name__)
        hint = self.__dict__.get("_hints", {}).get(name)
        if hint is not None:
            message = (f"module {display!r} has no attribute {name!r}: the original has it only as "
                       f"{hint}, which kmeans-estimator provides")
        else:
            message = (f"module {display!r} has no attribute {name!r}: {PROVIDES}, "
                       f"and {display}.{name} is not part of it")
        raise AttributeError(message, name=name, obj=self)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Answers imports of submodules of the alias that do not exist with what the alias provides."""

    def __init__(self):
        self.roots = set()

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname.startswith(root + ".") for root in self.roots):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: {PROVIDES}, and {fullname} is not part of it", name=fullname)
        return None


def _public_objects():
    """The objects the alias hands out, by name, each from the module that defines it."""
    from kmeans_estimator import experimental, export, hooks, inputs, kmeans
    from kmeans_estimator.estimator import estimator, exporters, run_config, spec, training, warm_start

    homes = (estimator, exporters, run_config, spec, training, warm_start, hooks)
    objects = {name: getattr(next(home for home in homes if hasattr(home, name)), name) for name in _TOP_LEVEL}
    for module in (export, inputs, experimental):
        objects.update((name, getattr(module, name)) for name in module.__all__)
    objects["_parse_features_if_necessary"] = kmeans._parse_features_if_necessary
    return objects


def _module(name, objects, names, children=(), hints=None, display=None):
    attributes = {attribute: objects[attribute] for attribute in names}
    attributes.update(children)
    return AliasModule(name, attributes, hints, display)


def _estimator_api(name, version, objects, display=None):
    """The original's `estimator` API of `version` ("v1" or "v2") as modules named `name`."""
    display = display or name
    hints = _V1_ONLY if version == "v2" else {}
    children = {
        "export": _module(f"{name}.export", objects, _RECEIVERS + _OUTPUTS, display=f"{display}.export"),
        "experimental": _module(f"{name}.experimental", objects, _EXPERIMENTAL[version],
                                hints=hints.get("experimental"), display=f"{display}.experimental"),
    }
    if version == "v1":
        children["inputs"] = _module(f"{name}.inputs", objects, _INPUTS, display=f"{display}.inputs")
    return _module(name, objects, _TOP_LEVEL, children, hints=hints.get(""), display=display)


def _tensorflow_estimator(objects):
    """The `tensorflow_estimator` package: its public `estimator` API and its commonly imported modules."""
    source = AliasModule("tensorflow_estimator.python.estimator", {})
    for path, names in _SOURCE_MODULES.items():
        parent = source
        *packages, leaf = path.split(".")
        for package in packages:
            if package not in vars(parent):
                setattr(parent, package, AliasModule(f"{parent.__name__}.{package}", {}))
            parent = getattr(parent, package)
        setattr(parent, leaf, _module(f"{parent.__name__}.{leaf}", objects, names))
    api = AliasModule("tensorflow_estimator.python.estimator.api", {})
    for version in ("v1", "v2"):
        setattr(api, f"_{version}", AliasModule(f"{api.__name__}._{version}", {
            "estimator": _estimator_api(f"{api.__name__}._{version}.estimator", version, objects)}))
    source.api = api
    python = AliasModule("tensorflow_estimator.python", {"estimator": source})
    # The package's own `estimator` is the v1 API, the larger one: programs for either run.
    return AliasModule("tensorflow_estimator", {
        "estimator": _estimator_api("tensorflow_estimator.estimator", "v1", objects), "python": python})


def _register(import_name, module):
    sys.modules[import_name] = module
    _FINDER.roots.add(import_name)
    for name, value in vars(module).items():
        if isinstance(value, AliasModule):
            _register(f"{import_name}.{name}", value)


def _tensorflow_api_roots():
    """TensorFlow's API root modules by import name: `tensorflow` and every compat.v1 / compat.v2."""
    return {name: module for name, module in list(sys.modules.items())
            if name == "tensorflow" or (name.startswith(("tensorflow._api.", "tensorflow.compat."))
                                        and name.endswith((".compat.v1", ".compat.v2")))}


_PUBLIC_ROOTS = ("tensorflow", "tensorflow.compat.v1", "tensorflow.compat.v2")
_FINDER = _AliasFinder()
_APIS = {}


def install_tf_estimator_alias():
    """Make `tf.estimator`, `tf.compat.v1.estimator` and `tensorflow_estimator` resolve to kmeans-estimator.

    After the call, in this process:

    - `tf.estimator` and `tf.compat.v2.estimator` are the original's v2 API, `tf.compat.v1.estimator`
      (also `tf` of `import tensorflow.compat.v1 as tf`) its v1 API, with `experimental.KMeans`
      and `inputs`; `from tensorflow.estimator import RunConfig` and the like import from them.
    - `import tensorflow_estimator` gives `tensorflow_estimator.estimator` (the v1 API), and
      `tensorflow_estimator.python.estimator.{estimator, run_config, model_fn, mode_keys, training,
      exporter, export.export, export.export_output, export.export_lib, inputs.numpy_io,
      inputs.pandas_io, inputs.inputs, canned.kmeans, api._v1.estimator, api._v2.estimator}` import.
    - A name the original had but this package does not provide (`tf.estimator.DNNClassifier`)
      raises AttributeError saying so; a module of the kind, ModuleNotFoundError.

    Calling it again changes nothing: the same module objects stay in place.
    """
    # Importing `tensorflow.compat.v1` by that name makes a second module object, which then
    # replaces tf.compat.v1; importing it here lets the alias reach the one scripts will get.
    for public_root in _PUBLIC_ROOTS:
        importlib.import_module(public_root)

    if not _APIS:
        objects = _public_objects()
        _APIS.update(v1=_estimator_api("tensorflow.compat.v1.estimator", "v1", objects, "tf.compat.v1.estimator"),
                     v2=_estimator_api("tensorflow.estimator", "v2", objects, "tf.estimator"),
                     tensorflow_estimator=_tensorflow_estimator(objects))
    for name, root in _tensorflow_api_roots().items():
        api = _APIS["v1"] if name.endswith(".compat.v1") else _APIS["v2"]
        setattr(root, "estimator", api)
        _register(f"{name}.estimator", api)
    _register("tensorflow.compat.v2.estimator", _APIS["v2"])
    for module in _APIS.values():
        _register(module.__name__, module)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
