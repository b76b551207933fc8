"""Agora participatory budgeting (package ``budgets``).

Modules:

* :mod:`budgets.domain`   -- the pure event-sourced ``BudgetRound`` aggregate (commands -> events).
* :mod:`budgets.instance` -- the neutral round representation (``Instance``) shared by rules and Pabulib I/O.
* :mod:`budgets.rules`    -- counting rules (``count``), exact arithmetic; :mod:`budgets.mes` holds the
  Method of Equal Shares engine and :mod:`budgets.ranking` the shared scoring / tie-breaking helper.
* :mod:`budgets.pabulib`  -- ``.pb`` import/export and conversion of an instance into domain events.
"""
