"""A synthetic municipality: the demo, the tests and the benchmarks all use it.

Everything is generated here, offline and deterministically from a seed: the organisation, staff
and their rights, terminals, a calendar with the real Japanese holidays, residents in households
and areas, business cases, overtime, output approvals, a watchlist, several weeks of operation and
login logs from five source systems in their vendors' formats, legitimate look-alikes of misuse,
and planted misuse incidents with a ground-truth file.
"""
