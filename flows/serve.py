"""Serve every deployment of every plan in plan_specs/ (what `cchc up` runs).

Registration is incremental and concurrent: each deployment carries a hash of its definition (the spec,
its flow file and the Prefect version) as its ``version``; a start reads every managed deployment and its
automations in a few calls and applies only those that are new, changed, or missing their evidence trigger,
a few at a time. Deployments of plans that were removed (or duties that were dropped, or whose flow
changed) are deleted, so the UI always matches the specs. On SIGTERM the runner stops without pausing
schedules.

    python -m flows.serve [--sequential] [--poll SECONDS]

``--sequential`` is the path before incremental registration (every deployment applied one by one, with
Prefect's git version probe), kept as the baseline of bench/bench_up.py.

    python -m flows.serve --pool cchc [--heartbeat-within SECONDS]

registers the same deployments into a ``process`` work pool instead (what `cchc up --scale` runs once, before
its workers poll the pool): the pool is created if missing, each deployment's pull step moves the worker into
its own checkout (``{{ $CCHC_PROJECT_DIR }}``, as prefect.yaml has), and an automation puts a run whose
heartbeats stopped (its worker or machine died) back in the queue, where another worker picks it up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import prefect
from prefect import Flow
from prefect._internal.versioning import VersionType
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.deployments.runner import RunnerDeployment
from prefect.events.actions import ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, TerminationSignal
from prefect.runner import Runner
from prefect.schedules import RRule
from prefect.settings import PREFECT_API_URL
from prefect.utilities.callables import ParameterSchema

from cchc.app import service
from cchc.core.deployments import MANAGED_TAG, DeploymentSpec, all_deployments
from cchc.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFINITION_FORMAT = "1"  # bump when the way a spec becomes a deployment changes, so every one is re-applied
VERSION_PREFIX = "cchc-"
# Prefect's SQLite server answers 503 past a handful of concurrent writers (FIELD-NOTES: 8 failed, 2 held).
CONCURRENCY = 4
PAGE = 200  # the API's default page size
# The runner asks for due runs this often (Prefect's default is 10 s): a run an evidence trigger creates
# starts within about a second instead of up to ten.
POLL_SECONDS = 1.0
SERVER_WAIT = 180.0  # the supervisor starts us alongside the server; how long we wait for it to answer
# Workers run each flow from their own checkout: the pull step of every pooled deployment (prefect.yaml's).
PULL_STEPS: list[dict[str, Any]] = [
    {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $CCHC_PROJECT_DIR }}"}}
]
HEARTBEAT_AUTOMATION = "cchc: chạy lại lượt mất nhịp tim"
PENDING_AUTOMATION = "cchc: chạy lại lượt kẹt ở Pending"
PENDING_WITHIN = 120.0
HEARTBEAT_WITHIN = 90.0  # no heartbeat for this long (PREFECT_FLOWS_HEARTBEAT_FREQUENCY is 30 s at scale): dead

T = TypeVar("T")


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    path, func = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    obj = getattr(module, func)
    assert isinstance(obj, Flow), entrypoint
    return obj


def _kwargs(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
        "tags": spec.tags,
        "schedules": [RRule(s["rrule"], timezone=s["timezone"]) for s in spec.schedules],
        "triggers": [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"}) for t in spec.triggers],
    }


def _versioned(spec: DeploymentSpec) -> dict[str, Any]:
    # An explicit version and the simple version type: Prefect otherwise runs several git commands per
    # deployment to infer one, and it would differ with every commit.
    return {**_kwargs(spec), "version": version_of(spec), "version_type": VersionType.SIMPLE}


def _with_form(deployment: RunnerDeployment, spec: DeploymentSpec) -> RunnerDeployment:
    """A plan's form (drop-downs with Vietnamese names) replaces the flow's own parameter form."""
    if spec.parameter_schema is not None:
        deployment._parameter_openapi_schema = ParameterSchema(**spec.parameter_schema)
    return deployment


def to_runner(spec: DeploymentSpec) -> RunnerDeployment:
    """Outside an event loop (serve runs here)."""
    deployment = load_flow(spec.entrypoint).to_deployment(**_kwargs(spec))
    assert isinstance(deployment, RunnerDeployment)
    return _with_form(deployment, spec)


async def ato_runner(spec: DeploymentSpec, pool: str | None = None) -> RunnerDeployment:
    """Inside an event loop."""
    kwargs = {**_versioned(spec), "version": version_of(spec, pool)}
    return _with_form(await load_flow(spec.entrypoint).ato_deployment(**kwargs), spec)


_flow_digests: dict[str, str] = {}


def _flow_digest(flow_file: str) -> str:
    """The flow's source decides the parameter form Prefect stores with the deployment."""
    if flow_file not in _flow_digests:
        _flow_digests[flow_file] = hashlib.sha256((PROJECT_ROOT / flow_file).read_bytes()).hexdigest()
    return _flow_digests[flow_file]


def version_of(spec: DeploymentSpec, pool: str | None = None) -> str:
    """A hash of everything that makes the deployment: equal versions, nothing to apply."""
    payload: dict[str, Any] = {
        "format": DEFINITION_FORMAT,
        "prefect": prefect.__version__,
        "spec": dataclasses.asdict(spec),
        "flow": _flow_digest(spec.flow_file),
    }
    if pool is not None:  # moving between `serve` and a pool re-applies every deployment
        payload["pool"] = [pool, PULL_STEPS]
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return VERSION_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass
class Registration:
    ids: dict[str, UUID]  # every wanted deployment's name → its id on the server
    applied: list[str]  # created or updated (new, changed, or its trigger missing)
    unchanged: list[str]
    removed: list[str]
    seconds: float


async def _paged(read: Callable[[int], Awaitable[list[T]]]) -> list[T]:
    out: list[T] = []
    while True:
        page = await read(len(out))
        out.extend(page)
        if len(page) < PAGE:
            return out


async def _managed(client: PrefectClient) -> list[DeploymentResponse]:
    tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[MANAGED_TAG]))
    return await _paged(lambda offset: client.read_deployments(deployment_filter=tagged, limit=PAGE, offset=offset))


async def _triggers_by_deployment(client: PrefectClient) -> dict[UUID, int]:
    """How many automations run each deployment (the server does not return an automation's owner, so
    its action's target stands for it; ours are the only automations that run our deployments)."""
    automations = await _paged(lambda offset: client.read_automations(limit=PAGE, offset=offset))
    count: dict[UUID, int] = {}
    for a in automations:
        for action in a.actions:
            if isinstance(action, RunDeployment) and action.deployment_id is not None:
                count[action.deployment_id] = count.get(action.deployment_id, 0) + 1
    return count


def _current(d: DeploymentResponse, spec: DeploymentSpec, triggers: dict[UUID, int], pool: str | None) -> bool:
    return (
        d.version == version_of(spec, pool)
        and d.entrypoint == spec.entrypoint
        and triggers.get(d.id, 0) == len(spec.triggers)
    )


def _flow(rd: RunnerDeployment) -> str:
    assert rd.flow_name, rd.name  # always set for a deployment made from a flow
    return rd.flow_name


async def _upsert(
    client: PrefectClient, rd: RunnerDeployment, flow_id: UUID, had_triggers: bool, pool: str | None = None
) -> UUID:
    """One deployment in two or three requests where ``aapply`` makes five: the server's create is an upsert
    (same id, schedules replaced, future scheduled runs redone), then its evidence trigger afresh. The payload
    is what RunnerDeployment._create sends for a local flow (Prefect 3.9.1)."""
    schedules = [s for s in rd.schedules or [] if isinstance(s, DeploymentScheduleCreate)]
    assert len(schedules) == len(rd.schedules or []), rd.name  # a deployment made afresh has only these
    deployment_id = await client.create_deployment(
        flow_id=flow_id,
        name=rd.name,
        version=rd.version,
        schedules=schedules,
        parameters=rd.model_dump(mode="json", include={"parameters"})["parameters"],
        description=rd.description,
        tags=rd.tags,
        path=rd._path if pool is None else None,  # a worker's pull step sets its working directory
        entrypoint=rd.entrypoint,
        parameter_openapi_schema=rd._parameter_openapi_schema.model_dump(exclude_unset=True),
        enforce_parameter_schema=rd.enforce_parameter_schema,
        # In a pool the deployment's runs go to the workers, which run them from their own checkout.
        work_pool_name=pool,
        pull_steps=PULL_STEPS if pool is not None else None,
    )
    if had_triggers:
        await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
    for trigger in rd.triggers:
        trigger.set_deployment_id(deployment_id)
        await client.create_automation(trigger.as_automation())
    return deployment_id


async def register(
    specs: Sequence[DeploymentSpec], concurrency: int = CONCURRENCY, pool: str | None = None
) -> Registration:
    """Make the server's managed deployments exactly ``specs``, touching only what differs; with ``pool``,
    as deployments of that work pool (run by its workers) instead of this process's runner."""
    started = time.perf_counter()
    wanted = {s.name: s for s in specs}
    if len(wanted) != len(specs):
        twice = sorted({s.name for s in specs if sum(o.name == s.name for o in specs) > 1})
        raise ValueError(f"two deployments share a name (the UI could not tell them apart): {twice}")
    async with get_client() as client:
        existing = await _managed(client)
        triggers = await _triggers_by_deployment(client)
        ids: dict[str, UUID] = {}
        stale: list[DeploymentResponse] = []
        had_triggers: set[str] = set()
        for d in existing:
            spec = wanted.get(d.name)
            if spec is None or d.entrypoint != spec.entrypoint:
                stale.append(d)  # a dropped duty, or one whose kind (so its flow) changed
            elif _current(d, spec, triggers, pool):
                ids[d.name] = d.id
            elif triggers.get(d.id):
                had_triggers.add(d.name)
        unchanged = sorted(ids)
        todo = [await ato_runner(s, pool) for s in specs if s.name not in ids]
        flow_ids = {name: await client.create_flow_from_name(name) for name in sorted({_flow(rd) for rd in todo})}
        gate = asyncio.Semaphore(concurrency)

        async def apply(rd: RunnerDeployment) -> None:
            async with gate:
                ids[rd.name] = await _upsert(client, rd, flow_ids[_flow(rd)], rd.name in had_triggers, pool)

        async def delete(d: DeploymentResponse) -> None:
            async with gate:
                await client.delete_deployment(d.id)

        # Deletions first: a duty whose flow changed keeps its name, and its new deployment must not
        # be read back as the old one.
        await asyncio.gather(*(delete(d) for d in stale))
        await asyncio.gather(*(apply(rd) for rd in todo))
    return Registration(
        ids={s.name: ids[s.name] for s in specs},
        applied=[rd.name for rd in todo],
        unchanged=unchanged,
        removed=sorted(d.name for d in stale),
        seconds=time.perf_counter() - started,
    )


async def prune(keep: Sequence[RunnerDeployment]) -> list[str]:
    """Delete managed deployments that no spec produces any more."""
    wanted = {(d.flow_name, d.name) for d in keep}
    removed = []
    async with get_client() as client:
        existing = await _managed(client)
        flows = {f.id: f.name for f in await client.read_flows()}
        for d in existing:
            if (flows.get(d.flow_id), d.name) not in wanted:
                await client.delete_deployment(d.id)
                removed.append(d.name)
    return removed


# A worker run's command when the pool names one (`CCHC_WORKER_DIRECT_COMMAND`, on by default): Prefect's process
# worker then starts the engine itself instead of its workspace supervisor (`python -m
# prefect.runner._workspace_supervisor`, ~1 s CPU of imports per run, which then execs the same engine). The
# engine runs the deployment's pull step itself (load_flow_from_flow_run), heartbeats, cancellation and Crashed
# stay the worker's. `python` is found through the worker's PATH, which `cchc worker` starts with its own
# interpreter's folder: each host runs its own venv, and no host's path is written into the pool.
DIRECT_COMMAND = "python -m prefect.engine"


def pool_template(direct_command: bool) -> dict[str, Any]:
    """Prefect's own process job template (what `prefect work-pool create` makes), with the direct command as the
    default of its ``command`` variable when asked for; a deployment or run may still set its own."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = DIRECT_COMMAND if direct_command else None
    return template


async def ensure_pool(client: PrefectClient, name: str, direct_command: bool = True) -> bool:
    """The ``process`` work pool, made if missing; an existing pool gets the command default asked for (a start
    with the setting turned off or back on changes the pool every worker reads). True when it was made."""
    from prefect.client.schemas.actions import WorkPoolUpdate

    template = pool_template(direct_command)
    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        try:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
        except ObjectAlreadyExists:
            # A starting `prefect worker start --type process` made the pool first, with Prefect's template.
            pool = await client.read_work_pool(name)
        else:
            return True
    wanted = template["variables"]["properties"]["command"].get("default")
    command = pool.base_job_template.get("variables", {}).get("properties", {}).get("command", {})
    if pool.type == "process" and command.get("default") != wanted:
        base = pool.base_job_template
        base["variables"]["properties"]["command"] = {**command, "default": wanted}
        await client.update_work_pool(name, WorkPoolUpdate(base_job_template=base))
    return False


# A run's events once it stops heartbeating for a reason: finished, paused or suspended (a suspended run's
# process exits on purpose), or already put back in the queue.
_QUIET_STATES = ("Completed", "Failed", "Cancelled", "Crashed", "Cancelling", "Paused", "Suspended", "AwaitingRetry")
# A run leaves Pending (a worker took it) for Running once its process loaded the flow, or for one of these.
_AFTER_PENDING = ("Pending", "Running", *_QUIET_STATES)


def _requeue(name: str, description: str, after: Sequence[str], expect: Sequence[str], within: float) -> AutomationCore:
    return AutomationCore(
        name=name,
        description=description,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            after={*after},
            expect={*expect},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                name="AwaitingRetry",
                message=f"{description} (sau {within:.0f} giây)",
            )
        ],
    )


def requeue_automations(within: float) -> list[AutomationCore]:
    """Prefect 3.9.1's pattern for "zombie" runs, a proactive trigger per flow run: a heartbeat not followed
    within ``within`` seconds by another heartbeat or a state that ends them, or a Pending run (taken by a
    worker) that never started. The action puts the run back to Scheduled (named AwaitingRetry): a live
    worker picks the same run up again, so a due moment still has one run (judging the moment it was
    scheduled for), and its state history shows what happened. No force: the server refuses to move a
    run that meanwhile finished."""
    return [
        _requeue(
            HEARTBEAT_AUTOMATION,
            "lượt chạy không còn gửi nhịp tim (worker hoặc máy chạy nó đã dừng đột ngột): đưa về hàng đợi",
            # From Running too: a run killed before its first heartbeat reached the server has sent none.
            ["prefect.flow-run.Running", "prefect.flow-run.heartbeat"],
            ["prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in _QUIET_STATES)],
            within,
        ),
        _requeue(
            PENDING_AUTOMATION,
            "worker nhận lượt chạy nhưng không khởi động được nó (worker đã dừng): đưa về hàng đợi",
            # A worker marks a run Submitting, then Pending, before its process starts.
            ["prefect.flow-run.Submitting", "prefect.flow-run.Pending"],
            [f"prefect.flow-run.{s}" for s in _AFTER_PENDING],
            # A loaded machine takes tens of seconds from Pending to Running (imports, the pull step): a run
            # re-queued while its process is merely slow would start twice (the store keeps its effects once).
            max(PENDING_WITHIN, 2 * within),
        ),
    ]


async def ensure_requeue_automations(client: PrefectClient, within: float) -> None:
    """One of each per server, made afresh at every start (two requests each; a trigger's id is random, so
    comparing them with what the server holds would say "changed" anyway)."""
    for wanted in requeue_automations(within):
        for a in await client.read_automations_by_name(wanted.name):
            await client.delete_automation(a.id)
        await client.create_automation(wanted)


async def register_pool(
    specs: Sequence[DeploymentSpec], pool: str, heartbeat_within: float, concurrency: int = CONCURRENCY
) -> Registration:
    """What `cchc up --scale` does once before its workers poll: the pool (with the direct worker command unless
    CCHC_WORKER_DIRECT_COMMAND=false), the deployments in it, the automation that re-queues a dead worker's runs."""
    async with get_client() as client:
        await ensure_pool(client, pool, get_settings().worker_direct_command)
        await ensure_requeue_automations(client, heartbeat_within)
    return await register(specs, concurrency, pool)


def wanted_specs() -> list[DeploymentSpec]:
    settings = get_settings()
    return all_deployments(service.all_plans(settings), settings.deployment_profile)


def run_limit(specs: Sequence[DeploymentSpec]) -> int:
    # A report run waiting for approval holds its slot until the next morning: one slot per report on top.
    return 4 + sum(1 for s in specs if s.entrypoint.endswith(":report_duty"))


def wait_for_server(timeout: float = SERVER_WAIT) -> None:
    """`cchc up` starts us while its server is still starting: our imports and specs overlap its start."""
    api = PREFECT_API_URL.value()
    if not api:
        return  # an ephemeral server, started by the client itself
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api.rstrip('/')}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"the Prefect server at {api} did not answer within {timeout:.0f} s")
        time.sleep(0.25)


async def serve_incremental(specs: Sequence[DeploymentSpec], poll: float, before: str = "") -> None:
    runner = Runner(pause_on_shutdown=False, limit=run_limit(specs), query_seconds=poll)
    reg = await register(specs)
    for name in reg.removed:
        print(f"removed deployment no longer in plan_specs/: {name}")
    for name, deployment_id in reg.ids.items():
        # What Runner.aadd_deployment does after applying (Prefect 3.9.1): poll for this deployment's runs.
        # Local flows have no storage to register.
        runner._deployment_registry.register_deployment(deployment_id, name)
    print(
        f"serving {len(reg.ids)} deployments ({len(reg.applied)} applied, {len(reg.unchanged)} unchanged, "
        f"{len(reg.removed)} removed in {reg.seconds:.1f} s{before})",
        flush=True,
    )
    await runner.start()


def serve_sequential(specs: Sequence[DeploymentSpec], poll: float) -> None:
    """The path before incremental registration: build every deployment, prune, apply one by one."""
    deployments = [to_runner(s) for s in specs]
    removed = asyncio.run(prune(deployments))
    for name in removed:
        print(f"removed deployment no longer in plan_specs/: {name}")
    started = time.perf_counter()
    runner = Runner(pause_on_shutdown=False, limit=run_limit(specs), query_seconds=poll)
    for d in deployments:
        runner.add_deployment(d)
    print(f"serving {len(deployments)} deployments (sequential in {time.perf_counter() - started:.1f} s)", flush=True)
    with contextlib.suppress(KeyboardInterrupt, TerminationSignal):  # a stop, not an error
        asyncio.run(runner.start())


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flows.serve")
    ap.add_argument("--sequential", action="store_true", help="the old registration path (a baseline)")
    ap.add_argument("--poll", type=float, default=POLL_SECONDS, help="seconds between the runner's queries")
    ap.add_argument("--pool", help="register into this process work pool (for `cchc worker`) and exit")
    ap.add_argument("--heartbeat-within", type=float, default=HEARTBEAT_WITHIN, help="with --pool: seconds")
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY, help="requests at once while registering")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    specs = wanted_specs()
    t1 = time.perf_counter()
    wait_for_server()
    # Where a slow start went, in serve.log: the plans' deployments, then what was left of the server's start.
    before = (
        f"; deployments from the plans {t1 - t0:.1f} s, then waited for the server {time.perf_counter() - t1:.1f} s"
    )
    if args.pool:
        reg = asyncio.run(register_pool(specs, args.pool, args.heartbeat_within, args.concurrency))
        print(
            f"registered {len(reg.ids)} deployments into work pool {args.pool!r} ({len(reg.applied)} applied, "
            f"{len(reg.unchanged)} unchanged, {len(reg.removed)} removed in {reg.seconds:.1f} s{before})",
            flush=True,
        )
        return
    if args.sequential:
        serve_sequential(specs, args.poll)
        return
    with contextlib.suppress(KeyboardInterrupt, TerminationSignal):  # a stop, not an error
        asyncio.run(serve_incremental(specs, args.poll, before))


if __name__ == "__main__":
    main()
