"""Capacity: load levels judged against the SLO, the highest load that holds, and what a traffic costs.

May import analysis.reading, analysis.formats, the other analysis.figures modules it needs
(percentiles, prices, cost, turns) and the harness facts named in analysis/.
"""
