"""A lab of many machines on labgrid: places, reservations, serial over RFC 2217.

A station of a shared lab is a labgrid *place*: its terminal's ECR link and debug console,
its card robot and power relay are serial resources a lab host's exporter serves through
ser2net, its camera a stream resource; tags say which station, terminal family, model,
firmware and dialect it is. The rig reserves places by tags, waits in labgrid's queue,
acquires them and turns each into the same station spec a local bench has (``rfc2217://``
URLs), so drivers and scenarios run unchanged.

- ``inventory``: stations an inventory names by ``place:`` or ``tags:`` (no labgrid import)
- ``coordinator``: a session with the coordinator on its own event-loop thread
- ``resolve``: an acquired place's resources and tags -> a ``StationSpec``
- ``reserve``: what ``posrig run`` does on such a lab (reserve, acquire, run, release)
- ``guard``: a watcher process that releases the places if the run dies
- ``export``: ``posrig lab export``, the virtual lab's stations exported from a lab host
- ``netns``: lab hosts as network namespaces, for the end-to-end test and the bench

This package never imports labgrid at import time: an inventory of local benches loads
without grpc.
"""
