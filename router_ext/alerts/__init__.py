"""Budgets and alerts: rules stored in the database (or a file), checked after commits and on a
timer, one episode per breach with a cooldown and a resolve, delivered to signed webhooks, the
dashboard and Prometheus; a budget can ask running Ralph loops to stop.

- :mod:`.rules` the rule kinds and their validation; :mod:`.rules_file` rules from a file
- :mod:`.evaluate` what each kind finds in the data; :mod:`.service` episodes and notices
- :mod:`.store` the alert_rules and alert_episodes tables
- :mod:`.webhook` signed, retried deliveries; :mod:`.metrics` the Prometheus side
- :mod:`.ralph` the stop request a budget sends to a Ralph loop
"""
