"""`turnbench report --trend`: runs/index.csv over time, regressions against a baseline, their charts
and pages.

May import analysis.reading, analysis.figures and analysis.report's renderers.
"""
