"""The run lifecycle and the step pipeline (private).

Users import `run`, `Step`, `workflow` and the sync twins from `resultflow`; this
package holds how they work: the pipeline every step goes through (guards, retry,
timeout, cache, events), the run lifecycle around a body (hooks, resume, timeouts,
cancellation), the concurrent scopes and the conditionals. Nothing here is public API.
"""
