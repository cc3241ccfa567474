"""Sub-commands of ``vigil`` that run client programs (dispatcher console, officer, camera).

Each module defines ``configure(parser)`` with cheap imports only and ``run(args)``, which
imports what it needs, so ``vigil dispatch --help`` loads neither Textual nor the server.
"""
