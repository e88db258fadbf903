"""gunicorn worker classes for the deploy (``worker_class = "ipgeo.workers.ThreadWorker"``).

When the gunicorn master dies without stopping its workers (SIGKILL, OOM killer), each worker
notices within a second that its parent changed and stops accepting, but keeps its copy of the
listening socket until its open connections end (up to ``graceful_timeout``). Meanwhile the
kernel still queues new connections on that socket, where nobody will ever accept them: the
load balancer waits out its read timeout on each. And the master that supervisor starts again
cannot bind the port while the orphans hold it, so the node stays out for the whole grace time.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker as _GunicornThreadWorker


class ThreadWorker(_GunicornThreadWorker):
    """gunicorn's gthread worker that lets go of the listening socket as soon as it is orphaned.

    Closing it resets the queued connections (nginx retries them on another node) and frees the
    port for the next master; requests already accepted are still answered.
    """

    def is_parent_alive(self) -> bool:
        if super().is_parent_alive():
            return True
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()
        return False
