"""Figures, reports and generated documentation of any results Dataset.

- ``figures``: one module per kind of result (run, sweep, sensitivity, batch) and their common style;
- ``document``: the report's blocks rendered once to Markdown and to HTML;
- ``kinds``: which kind of result a Dataset is, and what each needs;
- ``run_report``, ``study_reports``, ``assumptions``: the report's sections;
- ``writer``: :func:`write_report`;
- ``docs``: ``docs/scenario-reference.md``, generated from the schema.

May import: every layer below: :mod:`simulator.errors`, :mod:`simulator.model`,
:mod:`simulator.engines`, :mod:`simulator.results`, :mod:`simulator.runner`
and :mod:`simulator.studies`.
"""
