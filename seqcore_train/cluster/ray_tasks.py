"""Run a cluster plan's steps as Ray tasks: on a running cluster (`address`) or a local one.

The tasks are the functions of steps.py, wired as a graph: render shard i feeds fit shard
i directly (no wait for the other shards), each meld node waits for its own children only, and
calibrate/evaluate wait for the root and for the merged sets they read. Only paths cross the
network in task arguments and results; the models and images live on the storage under OUT, which
every node must mount at the same path. A task whose worker dies is retried (`[cluster] retries`);
a retried step skips what the killed attempt finished and resumes the rest (render.py skips
finished samples, a fit resumes its last epoch's checkpoint).

Ray is imported here only: the single-machine commands never need it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from seqcore_train.cluster import steps as cluster_steps
from seqcore_train.cluster.plan import STAGES, ClusterPlan, Layout, data_shards, meld_tree
from seqcore_train.errors import SeqCoreError

__all__ = ["import_ray", "run_on_ray"]

RAY_MISSING = "seqcore-train cluster needs Ray: pip install 'seqcore-train[ray]'"


def import_ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise SeqCoreError(RAY_MISSING) from None
    return ray


def _connect(ray, address: str | None, workers: int | None) -> bool:
    """Join the cluster at `address`, or start a local one of `workers` CPUs; True if started."""
    quiet = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": True}
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every task's summary line, as it comes
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local cluster: no token
        # "local": always a new private cluster, even with RAY_ADDRESS set in the environment
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, **quiet)
        return True
    _check_reachable(address)
    try:
        ray.init(address=address, **quiet)
    except ConnectionError as exc:
        raise SeqCoreError(f"--address {address}: no Ray cluster there ({exc})") from None
    return False


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not after Ray's ~2 min of retries, when nothing listens at HOST:PORT.

    "auto" (the cluster started on this machine) and anything that is not HOST:PORT go to Ray as
    they are.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SeqCoreError(
            f"--address {address}: cannot reach a Ray cluster there ({reason}); "
            "start one with `ray start --head` or check the host and port"
        ) from None


def _one_line(exc: BaseException) -> SeqCoreError:
    """A task's failure as the CLI's one line: the step's own error, not Ray's traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SeqCoreError):
        return SeqCoreError(str(cause))
    if cause is not None:
        return SeqCoreError(f"a cluster task failed: {type(cause).__name__}: {cause}")
    message = str(exc).strip().splitlines()
    return SeqCoreError(
        f"a cluster task failed: {type(exc).__name__}: {message[-1] if message else ''}"
    )


def run_on_ray(
    plan: ClusterPlan,
    out: Path,
    stages: Sequence[str] = STAGES,
    device: str = "cpu",
    address: str | None = None,
    workers: int | None = None,
) -> Path:
    """The stages' steps as Ray tasks; blocks until the last finishes and returns its output."""
    ray = import_ray()
    out = Path(out).resolve()  # workers resolve paths the same way on shared storage
    layout = Layout(out)
    started = _connect(ray, address, workers)
    try:
        cluster_steps.write_plan_copy(plan, out)  # once connected: a failed connect writes nothing
        options = {
            "num_cpus": plan.cpus_per_task,
            "num_gpus": 1 if device == "gpu" else 0,
            "max_retries": plan.retries,
            "retry_exceptions": False,  # a user error fails the same way again: report it
        }
        # render.py's Cycles uses the task's CPUs or its GPU; merging needs neither
        render = ray.remote(cluster_steps.render_shard).options(**options)
        merge = ray.remote(cluster_steps.merge_render).options(
            num_cpus=0.1, max_retries=plan.retries, retry_exceptions=False
        )
        fit = ray.remote(cluster_steps.fit_shard).options(**options)
        meld = ray.remote(cluster_steps.meld_node).options(**options)
        calibrate = ray.remote(cluster_steps.calibrate_root).options(**options)
        evaluate = ray.remote(cluster_steps.evaluate_model).options(**options)

        shard_refs: dict[tuple[str, int], object] = {}
        merged: dict[str, object] = {}
        if "render" in stages:
            for render_set in plan.renders:
                name = render_set.name
                refs = []
                for index in range(1, render_set.shards + 1):
                    ref = render.remote(plan, out, name, index, device)
                    shard_refs[(name, index)] = ref
                    refs.append(ref)
                merged[name] = merge.remote(plan, out, name, device, *refs)
        last = list(merged.values())

        shards = data_shards(plan, layout)
        model_refs: dict[Path, object] = {}
        if "fit" in stages:
            for shard in shards:
                key = shard.source[:2] if shard.source else None
                after = [shard_refs[key]] if key in shard_refs else []  # its own render shard
                ref = fit.remote(plan, out, shard, device, *after)
                model_refs[layout.fit_model(shard.index)] = ref
            last = list(model_refs.values())
        if "meld" in stages:
            leaves = [layout.fit_model(s.index) for s in shards]
            for level in meld_tree(leaves, plan.meld.k, layout):
                for node in level:
                    after = [model_refs[c] for c in node.children if c in model_refs]
                    model_refs[node.out] = meld.remote(plan, out, node, device, *after)
                    last = [model_refs[node.out]]
        if "calibrate" in stages:
            used = _sets_read(plan.calibrate)
            after = last + [merged[n] for n in used if n in merged]
            last = [calibrate.remote(plan, out, device, *after)]
        if "evaluate" in stages:
            used = _sets_read(plan.evaluate)
            after = last + [merged[n] for n in used if n in merged]
            last = [evaluate.remote(plan, out, device, *after)]
        try:
            results = ray.get(last + list(merged.values()))
        except ray.exceptions.RayError as exc:
            raise _one_line(exc) from None
        return Path(results[len(last) - 1]) if last else layout.out
    finally:
        if started:
            ray.shutdown()


def _sets_read(what) -> list[str]:
    if what is None:
        return []
    return [d[1:].partition("::")[0] for d in what.data if d.startswith("@")]
