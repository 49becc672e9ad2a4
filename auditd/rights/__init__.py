"""The access-rights lifecycle: grant requests and their approval by the 所属長, revocation, one
account per person, suspension driven by the personnel feed (異動・退職), and the inventories an
auditor asks for (revocation lag, dormant accounts, grants without an end)."""
