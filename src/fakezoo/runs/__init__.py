"""Run directories: reading, checking and loading them (:mod:`~fakezoo.runs.loader`)."""
