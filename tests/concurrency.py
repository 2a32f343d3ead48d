"""Races for tests on PostgreSQL: real threads, each with its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from django.db import connection


def all_at_once(calls: Sequence[Callable], *, timeout: float = 120) -> list:
    """Run the callables at the same moment, one thread each; returns what each returned (or
    the exception it raised), in the order of `calls`. Each thread closes its connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # handed to the caller's assertions, never swallowed
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results
