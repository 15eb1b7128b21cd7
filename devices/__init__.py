"""Every device the rig talks to: an interface, a driver for real hardware, a simulator.

``devices`` never imports ``harness``: drivers and simulators know nothing of pytest,
Allure or the lab inventory. They announce what they do on :mod:`devices.events`.
"""
