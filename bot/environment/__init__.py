"""A work item's environment: what its workspace gets before the agents
(setup, test command, egress, caches)."""
