"""Who may spend what: rate limits, spend budgets, the spend estimate reserved before a call and
settled after it, and the per-tenant share of a bounded store."""
