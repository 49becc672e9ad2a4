"""The policy engine: who may do what, when, from where and how authenticated (issue: policy engine).

Policies are YAML files in this package (defaults for a typical 市) plus what the rights API stores;
every event gets a decision with reasons. Nothing is registered yet: the engine lands with its issue.
"""
