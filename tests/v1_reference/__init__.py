"""Frozen copy of the spec v1 engine (validation and outcomes as on main before spec v2).

Kept only as the reference of the v1-equivalence property test: on data spec v1
accepts (one start per patient, item 9 known) spec v2 must give exactly these
figures.  Never edit it to make a test pass.
"""
