"""Adapters: candidates that run real LSTM libraries on canonical TF-layout cases.

One module per library; each converts the canonical parameters through
``_layout`` and imports its framework only inside the candidate function, so
importing this package (or ``lstm-conformance list``) costs nothing.  They are
registered by name in :data:`conformance.candidates.BUILTINS`; docs/mapping.md
documents every mapping.
"""
