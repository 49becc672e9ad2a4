"""Report builders: annual self-inspection (自己点検), monthly log review, disclosure (issue: reports)."""
