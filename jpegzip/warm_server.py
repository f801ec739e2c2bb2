"""Imported once by the worker pool's fork server (see workers.py), never by anything else.

Importing it warms the server up, so that every worker forked from it starts with the codec,
the model and the compiled kernels already loaded: a batch of small files is then not
dominated by each worker loading them again.
"""

from .workers import prepare_process

prepare_process()
