"""TF_CONFIG: the cluster a process belongs to and its task in it, parsed once into a frozen
`TaskDescription` that `RunConfig` and `distributed` read instead of re-deriving its rules.

TF_CONFIG is a JSON object ``{"cluster": {job: ["host:port", ...]}, "task": {"type": job,
"index": i}, "service": {...}}``; every part is optional. The rules are tf.estimator's:
- the chief is the "chief" task, else the legacy "master" task, else worker 0;
- the "evaluator" task runs outside the training cluster: it is never listed in it, it is
  never the chief, and its description has no cluster;
- without a cluster, or with a cluster of one task, the task talks to no other and runs
  locally (master "").
"""
import dataclasses
import json
import os
import types
from typing import Mapping, Optional, Tuple

import tensorflow as tf

from kmeans_estimator.estimator.checks import is_integer

ENV_VAR = "TF_CONFIG"

CHIEF = "chief"
MASTER = "master"
WORKER = "worker"
PS = "ps"
EVALUATOR = "evaluator"

# The jobs whose task 0 is the chief when they are in the cluster, in order of precedence.
CHIEF_JOBS = (CHIEF, MASTER)
# The jobs whose tasks run training steps (ps tasks only hold variables).
TRAINING_JOBS = (CHIEF, MASTER, WORKER)

# The session target of a task that talks to no other.
LOCAL_MASTER = ""


def task_device(task_type, task_id):
    """The device name of a task: ``/job:<task_type>/task:<task_id>``."""
    return f"/job:{task_type}/task:{task_id}"


def chief_job(cluster):
    """The job whose task 0 is the chief: "chief", else "master", else "worker".

    Args:
      cluster: a mapping of job names to addresses, or a `tf.train.ClusterSpec`.
    """
    jobs = set(cluster.jobs) if hasattr(cluster, "jobs") else set(cluster)
    return next((job for job in CHIEF_JOBS if job in jobs), WORKER)


@dataclasses.dataclass(frozen=True)
class TaskDescription:
    """One task of a TF_CONFIG cluster, as `RunConfig`'s cluster properties describe it.

    Attributes:
      cluster: job name -> tuple of "host:port" addresses; empty without a cluster (and
        for the evaluator). Read-only.
      task_type: the task's job name ("worker" without TF_CONFIG).
      task_id: the task's index within its job.
      is_chief: whether the task initializes the model and writes checkpoints.
      master: the task's session target: "" for a local run, else "grpc://host:port".
      num_ps_replicas: the number of ps tasks.
      num_worker_replicas: the number of chief, master and worker tasks (1 locally, 0
        for the evaluator).
      evaluation_master: the session target of evaluations: always "" (local).
      service: TF_CONFIG's "service" object, or None.
      global_id_in_cluster: the task's rank in the training cluster (see `_global_id`),
        or None for the evaluator.
      device: the task's device name, ``/job:<task_type>/task:<task_id>``.
    """

    cluster: Mapping[str, Tuple[str, ...]]
    task_type: str
    task_id: int
    is_chief: bool
    master: str
    num_ps_replicas: int
    num_worker_replicas: int
    evaluation_master: str
    service: Optional[dict]
    global_id_in_cluster: Optional[int]
    device: str

    def cluster_spec(self):
        """The cluster as a new `tf.train.ClusterSpec` (empty without a cluster)."""
        return tf.train.ClusterSpec({job: list(addresses) for job, addresses in self.cluster.items()})


def _read(tf_config):
    """`tf_config` (a dict, a JSON string, or None) as a dict; {} when None or blank."""
    if tf_config is None:
        return {}
    if isinstance(tf_config, (str, bytes)):
        if not tf_config.strip():
            return {}
        try:
            parsed = json.loads(tf_config)
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {tf_config!r}") from None
        if not isinstance(parsed, dict):
            raise ValueError(
                f"TF_CONFIG must be a JSON object, got a {type(parsed).__name__}: {tf_config!r}")
        return parsed
    if not isinstance(tf_config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object or a dict, got a {type(tf_config).__name__}")
    return tf_config


def _parse_cluster(cluster):
    """The checked cluster, as a dict of job name to a tuple of addresses."""
    if cluster is None:
        cluster = {}
    if not isinstance(cluster, dict):
        raise ValueError(
            f'TF_CONFIG "cluster" must be an object mapping job names to address lists, got {cluster!r}')
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(address, str) for address in addresses):
            raise ValueError(
                f'TF_CONFIG "cluster" job {job!r} must be a list of "host:port" strings, got {addresses!r}')
    chief_jobs = [job for job in CHIEF_JOBS if job in cluster]
    if len(chief_jobs) > 1:
        raise ValueError(
            f'TF_CONFIG "cluster" may have a "chief" or a "master" job, not both, got {sorted(cluster)}')
    for job in chief_jobs:
        if len(cluster[job]) != 1:
            raise ValueError(f'TF_CONFIG "cluster" job {job!r} must have exactly one task, got {cluster[job]!r}')
    return {job: tuple(addresses) for job, addresses in cluster.items()}


def _parse_task(task, cluster):
    """Returns (task_type, task_id) after checking they name a task of `cluster`."""
    if task is None:
        task = {}
    if not isinstance(task, dict):
        raise ValueError(f'TF_CONFIG "task" must be an object, got {task!r}')
    task_type = task.get("type", WORKER)
    if not isinstance(task_type, str) or not task_type:
        raise ValueError(f'TF_CONFIG "task" type must be a non-empty string, got {task_type!r}')
    task_id = task.get("index", 0)
    if isinstance(task_id, str) and task_id.isdigit():
        task_id = int(task_id)
    if not is_integer(task_id) or task_id < 0:
        raise ValueError(f'TF_CONFIG "task" index must be a non-negative integer, got {task_id!r}')
    if task_type == EVALUATOR:
        if EVALUATOR in cluster:
            raise ValueError(
                'TF_CONFIG "cluster" must not list the "evaluator" task, which runs outside the '
                "training cluster")
        return task_type, task_id
    if not cluster:
        if task_type != WORKER or task_id != 0:
            raise ValueError(
                f'TF_CONFIG "task" is {task_type!r} index {task_id} but TF_CONFIG has no "cluster"; '
                "without a cluster the task must be worker 0")
        return task_type, task_id
    if task_type not in cluster:
        raise ValueError(
            f'TF_CONFIG "task" type {task_type!r} is not a job of the cluster, whose jobs are {sorted(cluster)}')
    if task_id >= len(cluster[task_type]):
        raise ValueError(
            f'TF_CONFIG "task" index {task_id} is out of range for job {task_type!r}, '
            f"which has {len(cluster[task_type])} task(s)")
    return task_type, task_id


def _global_id(cluster, task_type, task_id):
    """The task's rank among all tasks of the training cluster, as tf.estimator numbered them.

    The chief (or master, or worker 0 of a cluster without either) is 0; the other tasks
    follow job by job in alphabetical order, ps tasks last.
    """
    first = chief_job(cluster)
    order = [first] + sorted(job for job in cluster if job not in (first, PS))
    if PS in cluster:
        order.append(PS)
    offset = 0
    for job in order:
        if job == task_type:
            return offset + task_id
        offset += len(cluster[job])
    raise AssertionError(f"task {task_type!r} is not in the cluster {sorted(cluster)}")


def _without_cluster(task_type, task_id, service):
    """A task that talks to no other: worker 0 of a local run, or the evaluator, which is
    outside the training cluster and only reads checkpoints."""
    evaluator = task_type == EVALUATOR
    return TaskDescription(
        cluster=types.MappingProxyType({}),
        task_type=task_type,
        task_id=task_id,
        is_chief=not evaluator,
        master=LOCAL_MASTER,
        num_ps_replicas=0,
        num_worker_replicas=0 if evaluator else 1,
        evaluation_master=LOCAL_MASTER,
        service=service,
        global_id_in_cluster=None if evaluator else 0,
        device=task_device(task_type, task_id),
    )


def parse(tf_config):
    """Parses a TF_CONFIG value into the description of the task it names.

    Args:
      tf_config: the parsed JSON object (a dict), its JSON text, or None (no TF_CONFIG).

    Returns:
      A `TaskDescription`.

    Raises:
      ValueError: the JSON is malformed, a part has the wrong shape, or the task is not
        one of the cluster's.
    """
    tf_config = _read(tf_config)
    cluster = _parse_cluster(tf_config.get("cluster"))
    task_type, task_id = _parse_task(tf_config.get("task"), cluster)
    service = tf_config.get("service")
    if service is not None and not isinstance(service, dict):
        raise ValueError(f'TF_CONFIG "service" must be an object, got {service!r}')
    if task_type == EVALUATOR or not cluster:
        return _without_cluster(task_type, task_id, service)
    if task_type in CHIEF_JOBS:
        is_chief = True
    else:
        is_chief = task_type == WORKER and task_id == 0 and chief_job(cluster) == WORKER
    # A one-task cluster is a local run: talking to oneself over gRPC only costs time.
    if sum(len(addresses) for addresses in cluster.values()) == 1:
        master = LOCAL_MASTER
    else:
        master = "grpc://" + cluster[task_type][task_id]
    return TaskDescription(
        cluster=types.MappingProxyType(cluster),
        task_type=task_type,
        task_id=task_id,
        is_chief=is_chief,
        master=master,
        num_ps_replicas=len(cluster.get(PS, ())),
        num_worker_replicas=sum(len(cluster.get(job, ())) for job in TRAINING_JOBS),
        evaluation_master=LOCAL_MASTER,
        service=service,
        global_id_in_cluster=_global_id(cluster, task_type, task_id),
        device=task_device(task_type, task_id),
    )


def from_environment():
    """The description of this process's task, from the TF_CONFIG environment variable.

    Unset or blank, it describes worker 0 of a local run, the chief.

    Raises:
      ValueError: as `parse`.
    """
    return parse(os.environ.get(ENV_VAR, ""))
