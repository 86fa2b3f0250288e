"""Framework integrations, one module per framework, each an optional extra.

``injectq.integrations.taskiq`` needs ``pip install "injectq[taskiq]"``.
"""
