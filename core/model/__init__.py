"""The data layer: records, media, speech, banks, run results, stage names and plugin contracts.

Nothing here does I/O or imports a stage, the service or a plugin; everything else builds on it.
"""
