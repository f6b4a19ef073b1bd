"""Peers that run in an environment of their own (AutoGluon), started as subprocesses."""
