"""Inventory validation, one module per category of mistake.

``kafkaform.validate`` runs them all (``check``, ``check_inventory``); each module here holds
the checks of one category as functions returning :class:`Problem` lists, and never raises on
a value of an unexpected type.
"""
