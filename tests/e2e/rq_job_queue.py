#!/usr/bin/python3
# python-rq (Debian's python3-rq 1.13) through the KV endpoint, for
# rq_job_queue_test.cpp: a producer, workers, the operator's recovery after
# the failovers, and the count of what ran. Every Redis command goes to the
# address given (HAProxy in front of the pair), never to a node directly.
#
#   produce --count N --acked FILE [--rate R]
#                                      enqueue jobs 1, 2, ... (at most R a second)
#                                      until N enqueues returned; each returned id
#                                      is a line of FILE
#   work --runs FILE --stop FILE       a SimpleWorker (no fork), restarted after
#                                      the errors a failover causes, until the
#                                      stop file exists (and SIGTERM)
#   recover                            what an rq operator does once the workers
#                                      are gone: rq's StartedJobRegistry cleanup,
#                                      requeue of the failed jobs, re-push of jobs
#                                      that are queued in no queue; prints JSON
#   drain --runs FILE                  one burst worker until the queue is empty
#   report --acked FILE --runs FILE... the counts (JSON)
#
# "Ran" is counted outside Redis: the job function appends "<id> <pid>" to
# its worker's runs file before it returns, so a job whose success rq could
# not record (the connection dropped) still counts as having run, and a job
# run again after recovery counts twice.
import argparse
import glob
import json
import os
import sys
import time
import warnings

import redis
import rq
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

QUEUE = "jobs"


def record(n):
    """The job: one line per run, in one write (O_APPEND: never interleaved)."""
    fd = os.open(os.environ["RQ_RUNS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{n} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return n


def connect(args):
    # Timeouts above the worker's BLPOP (dequeue_timeout = worker_ttl - 15 =
    # 15 s) and below HAProxy's idle timeouts (60 s).
    return redis.Redis(host=args.host, port=args.port, socket_timeout=40, socket_connect_timeout=3)


def retried(step):
    """Runs an operator's step again after a lost connection (HAProxy closes
    every session when it marks the primary down): each step below can be
    run again from the start without doing anything twice."""
    def run(args):
        for attempt in range(30):
            try:
                return step(args)
            except redis.exceptions.ConnectionError as e:
                print(f"{step.__name__}: {e}; again", file=sys.stderr, flush=True)
                time.sleep(1)
        raise SystemExit(f"{step.__name__}: no connection for 30 attempts")
    return run


def job_id(n):
    return f"job-{n}"


def produce(args):
    r = connect(args)
    q = rq.Queue(QUEUE, connection=r)
    acked = failed = 0
    n = 0
    errors = {}
    started = time.monotonic()
    with open(args.acked, "a", buffering=1) as out:
        while acked < args.count:
            n += 1
            if args.rate > 0:  # paced, so that the failovers fall in the middle of the work, not after it
                delay = started + n / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                # By name: the workers import this file as the module rq_job_queue.
                q.enqueue("rq_job_queue.record", n, job_id=job_id(n), job_timeout=60, result_ttl=3600)
            except redis.exceptions.RedisError as e:
                # Unknown whether it landed: not counted, not retried under the
                # same id (a new id follows); it may still run ("ran, not acknowledged").
                failed += 1
                what = type(e).__name__ + ": " + str(e)[:120]
                errors[what] = errors.get(what, 0) + 1
                time.sleep(0.1)
                continue
            out.write(f"{n}\n")
            acked += 1
    print(json.dumps({"attempts": n, "acknowledged": acked, "failed_attempts": failed, "errors": errors,
                      "seconds": round(time.monotonic() - started, 1)}), flush=True)


def new_worker(r):
    return rq.SimpleWorker([rq.Queue(QUEUE, connection=r)], connection=r, default_worker_ttl=30,
                           job_monitoring_interval=5)


def work(args):
    os.environ["RQ_RUNS_FILE"] = args.runs
    r = connect(args)
    restarts = 0
    while not os.path.exists(args.stop):
        try:
            # work() returns when an error it does not handle (the connection
            # lost in the middle of a job's bookkeeping) ends its loop.
            new_worker(r).work(burst=False, logging_level="WARNING")
        except Exception as e:  # the endpoint went away under it
            print(f"worker: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        if os.path.exists(args.stop):
            break
        restarts += 1  # what a supervisor (systemd, supervisord) does: start it again
        time.sleep(0.3)
    print(json.dumps({"restarts": restarts}), flush=True)


@retried
def drain(args):
    os.environ["RQ_RUNS_FILE"] = args.runs
    r = connect(args)
    q = rq.Queue(QUEUE, connection=r)
    while q.count > 0:  # work() returns early when its connection is lost
        new_worker(r).work(burst=True, logging_level="WARNING")


@retried
def recover(args):
    r = connect(args)
    q = rq.Queue(QUEUE, connection=r)
    started = StartedJobRegistry(QUEUE, connection=r)
    failed = FailedJobRegistry(QUEUE, connection=r)
    out = {"started_left": started.get_job_ids(), "failed_before": len(failed)}
    # No worker is left (the test stopped them all): whatever StartedJobRegistry
    # holds was abandoned. rq's own cleanup moves expired entries to the
    # FailedJobRegistry; with no worker alive every entry counts as expired.
    started.cleanup(timestamp=time.time() + 10 ** 6)
    out["moved_to_failed"] = len(failed) - out["failed_before"]
    # `rq requeue --all`.
    # Why rq failed them (a job whose function ran can still be failed by rq
    # when the connection went while it recorded the result).
    reasons = {}
    for jid in failed.get_job_ids():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # job.exc_info: the latest failure's text
            text = (Job.fetch(jid, connection=r).exc_info or "").strip()
        reasons[jid] = text.splitlines()[-1][:200] if text else "?"
    out["failed_reasons"] = reasons
    requeued = []
    for jid in failed.get_job_ids():
        try:
            failed.requeue(jid)
        except InvalidJobOperation:  # requeued by an earlier attempt of this step
            continue
        requeued.append(jid)
    out["requeued_failed"] = requeued
    # A job whose id a worker popped (BLPOP) but that never reached the
    # StartedJobRegistry (the reply or the next command lost in the failover)
    # is left "queued" in no queue: rq 1.13 has no tool for it; an operator
    # pushes it again.
    in_queue = set(q.get_job_ids())
    orphans = []
    for key in r.scan_iter(match="rq:job:*", count=1000):
        jid = key.decode()[len("rq:job:"):]
        if ":" in jid:
            continue
        status = r.hget(key, "status")
        if status is not None and status.decode() == JobStatus.QUEUED and jid not in in_queue:
            orphans.append(jid)
    for jid in orphans:
        q.push_job_id(jid)
    out["orphans_pushed_again"] = sorted(orphans)
    print(json.dumps(out), flush=True)


@retried
def report(args):
    r = connect(args)
    with open(args.acked) as f:
        acked = [int(line) for line in f if line.strip()]
    runs = {}
    for path in args.runs:
        for name in glob.glob(path):
            with open(name) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        runs[int(parts[0])] = runs.get(int(parts[0]), 0) + 1
    acked_set = set(acked)
    statuses = {}
    for n in acked:
        s = r.hget("rq:job:" + job_id(n), "status")
        s = s.decode() if s is not None else "no job hash"
        statuses[s] = statuses.get(s, 0) + 1
    not_run = sorted(n for n in acked_set if runs.get(n, 0) == 0)
    twice = sorted(n for n, c in runs.items() if c >= 2)
    print(json.dumps({
        "acknowledged": len(acked),
        "acknowledged_distinct": len(acked_set),
        "ran": len(runs),
        "runs_total": sum(runs.values()),
        "ran_twice_or_more": len(twice),
        "ran_twice_ids": twice[:50],
        "ran_not_acknowledged": len([n for n in runs if n not in acked_set]),
        "acknowledged_not_run": len(not_run),
        "acknowledged_not_run_ids": not_run[:50],
        "statuses_of_acknowledged": statuses,
        "queue_left": rq.Queue(QUEUE, connection=r).count,
        "started_registry": len(StartedJobRegistry(QUEUE, connection=r)),
        "failed_registry": len(FailedJobRegistry(QUEUE, connection=r)),
        "finished_registry": len(FinishedJobRegistry(QUEUE, connection=r)),
    }), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("produce")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--rate", type=float, default=0)
    s = sub.add_parser("work")
    s.add_argument("--runs", required=True)
    s.add_argument("--stop", required=True)
    s = sub.add_parser("drain")
    s.add_argument("--runs", required=True)
    sub.add_parser("recover")
    s = sub.add_parser("report")
    s.add_argument("--acked", required=True)
    s.add_argument("--runs", nargs="+", required=True)
    args = p.parse_args()
    {"produce": produce, "work": work, "drain": drain, "recover": recover, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
