"""The capture service (``scribe serve``): live visits recorded from a browser on this
machine, on loopback only.

``capture`` holds the service's state (``CaptureService``: the open visits, each a
``LiveVisit``; the one compute thread their model work runs on; the ``Limits``);
``app`` the HTTP routes and the recorder page (``recorder/``, static files); ``signing``
the note and its patient instructions signed, exported and sent together; ``stream``
the recorder's WebSocket (16 kHz mono PCM16 in, ``scribe.live.events`` out); ``server``
binds 127.0.0.1 and runs uvicorn; ``access`` the Host/Origin/token checks every request
passes; ``connections`` the request deadline and the budget of open sockets; ``client``
a small HTTP client for tests and scripts. Importing this package imports none of them.
"""
