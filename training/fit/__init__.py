"""The three models: segments, escalation risk, next-best-action with off-policy evaluation."""
