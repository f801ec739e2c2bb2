"""Recompress an archive across a Dask cluster (the optional ``cluster`` extra).

    from distributed import Client
    from jpegzip import cluster

    job = cluster.new_job("s3://photos/", "s3://archive/", compressing=True)
    with Client("tcp://scheduler:8786") as client:
        report = cluster.run(cluster.plan(job), client)   # a jpegzip.batch.Report

Sources and outputs are fsspec URLs; work goes out as tasks of many files; each worker loads
the model once; every output is verified, then written atomically under its final name; a
JSON-lines manifest in the destination lets a killed job resume. Imports dask, so nothing
else in jpegzip imports this package: ``jpegzip cluster`` loads it when it runs.
"""

from __future__ import annotations

from .engine import Item, Plan, auto_files_per_task, connect, is_input, new_job, plan, run
from .manifest import MANIFEST_NAME, PARTS_FOLDER, FileRecord
from .storage import Location
from .tasks import CodecPlugin, Job

__all__ = [
    "MANIFEST_NAME",
    "PARTS_FOLDER",
    "CodecPlugin",
    "FileRecord",
    "Item",
    "Job",
    "Location",
    "Plan",
    "auto_files_per_task",
    "connect",
    "is_input",
    "new_job",
    "plan",
    "run",
]
