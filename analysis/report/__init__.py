"""The report: blocks rendered as report.html and report.md, the charts, summary.json.

May import analysis.figures and analysis.reading.
"""
