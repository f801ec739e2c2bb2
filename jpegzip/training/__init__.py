"""Training and fitting: the learned network (train.py), the context tables
(fit_classic.py, clustering.py), the lossy table ladder (fit_tables.py) and the header
dictionary (fit_header_dict.py). They write what ships in weights/; the runtime never
imports this package (tests/test_layering.py checks it)."""
