"""Use cases: one function (or method) per human or system action, shared by REST, websockets,
background sweeps and CLI commands. Services talk to the store and publish through the
runtime's :class:`server.runtime.Publisher`; they never import the websocket layer."""
