"""Publish and report: the BI copies of the marts, their contract, the program report and the dashboard."""
