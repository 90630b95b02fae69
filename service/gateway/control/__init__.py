"""Cost control: budgets, rate limits and alerts, checked before every upstream call.

``admission.admit`` runs right after a request's route is resolved and
``admission.settle`` when its row is recorded; everything else here serves those two.
This package file imports nothing, so ``keys`` and ``config`` can use its plain data
modules without an import cycle.
"""
