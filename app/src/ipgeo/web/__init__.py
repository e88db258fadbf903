"""The HTTP layer: the Flask application, its blueprints and error handlers, the metrics'
request hooks and the WSGI fast path. Everything below it (``ipgeo.db``, ``ipgeo.sources``,
``ipgeo.render``...) works without Flask."""
