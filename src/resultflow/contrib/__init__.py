"""Optional integrations with other libraries, one module each.

- `resultflow.contrib.returns`: convert between dry-python `returns` Results and ours;
- `resultflow.contrib.hypothesis`: hypothesis strategies for Results and a reusable
  check of the Result laws.
"""
