"""Reference data that makes an access explainable: organisation, staff, rights, terminals, time, cases."""
