"""One turn on the wire and what it measured: the request, the streaming reader, the measurement
contract, the turn's result, and asking a server what it is.

May import deploy/; nothing else of harness/ (every other part of harness/ imports this one).
"""
