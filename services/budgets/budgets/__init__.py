"""Agora participatory budgeting (package ``budgets``), read domain → application → read models:

* :mod:`budgets.domain`       -- the pure event-sourced ``BudgetRound`` aggregate (commands -> ``NewEvent``s).
* :mod:`budgets.application`  -- the use cases over ``agora.application.CommandRunner``.
* :mod:`budgets.projections`  -- the ``budgets_*`` read models and their queries (incl. erasure).
* :mod:`budgets.service`      -- thin nameko entrypoints; :mod:`budgets.dependencies` -- the provider.
* :mod:`budgets.counting`     -- counting in a worker process; :mod:`budgets.pabulib_io` -- ``.pb`` in and out
  (the file format itself is :mod:`agora.pabulib`).
* :mod:`budgets.instance`     -- the neutral round representation (``Instance``) shared by rules and Pabulib I/O.
* :mod:`budgets.rules`        -- counting rules (``count``), exact arithmetic; :mod:`budgets.mes` holds the
  Method of Equal Shares engine and :mod:`budgets.ranking` the shared scoring / tie-breaking helper.
"""
