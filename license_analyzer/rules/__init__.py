"""Reclamation rules: TOML rules -> Polars expressions -> candidates -> review -> apply/restore.

A rule (rules/defaults.toml, a file in `[rules] files`, or `[[rules.custom]]` in the config):

    [[rules]]
    id = "long_idle"                       # a user rule with a default's id replaces it
    description = "Idle half a year"
    products = ["sales", "SPE_E3"]         # families or skuPartNumbers; ["*"]: every product
    exclude_products = []
    priority = 75                          # the highest wins per (user, SKU); others "also match"
    action = "remove"                      # remove | downgrade (target = "SKU") | remove_from_group
    reason = "Idle for {days_since_activity} days"   # {facts column} placeholders
    grace = true                           # honour the grace period after assignment
    when = { all = [ { field = "days_since_activity", op = ">=", value = 180 } ] }

Conditions: `all` / `any`, nested freely; ops ==, !=, <, <=, >, >=, in, not_in, is_null,
not_null, contains; fields are the facts columns plus those derive.py adds; "$inactive_days"
and friends are the thresholds of [analysis] (per product for per_product rules).

Files: grammar (conditions), model/loading (the registry), derive (overlap, downgrade, attach,
exclusions, grace), evaluate (winners), carry_out (action, blocked reason, saving), evidence,
lifecycle, propose (the stage), review/importing/exports (people), versioning (compare-and-set
on a candidate's status), apply/restore with live_checks, change_log and graph_ops (Graph),
listing (`rules list`).
"""
