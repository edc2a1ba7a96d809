"""The translation engine (docs/domain.md#the-translation-pipeline): telemetry in; canonical events, violations, scores
and actions out. Pure and table-driven: the rules are the YAML tables in ``rules/``, the code
here only reads them. No I/O beyond loading those tables once."""
