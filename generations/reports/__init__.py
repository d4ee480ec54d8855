"""Usage reports: spend, outcomes and timings read from the ledger and the generations, as a page and a CSV.

queries.py holds the aggregate queries (and the one rule of who sees whose figures), forms.py the filters,
charts.py the geometry of the inline SVG charts, export.py the CSV, views.py the two thin views.
"""
