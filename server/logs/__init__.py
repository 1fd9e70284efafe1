"""The decision and outcome logs: records leave the request path through a bounded queue.

:class:`~server.logs.base.RecordLog` is what the engine and the outcome service submit
to; the record layout is ``modelio.logrecords`` (shared with training's feedback join).
"""
