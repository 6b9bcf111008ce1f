"""What the numbers are: per-turn and per-conversation figures, ratios with confidence intervals, cost,
capacity and the warnings a reader needs.

May import analysis.reading, analysis.formats and the harness/deploy facts named in analysis/.
"""
