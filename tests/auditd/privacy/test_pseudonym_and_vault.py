import os

import pandas as pd
import pytest

from auditd.errors import ConfigError
from auditd.privacy.pseudonym import Pseudonymiser, household_pseudonym, normalize_identifier
from auditd.privacy.vault import Vault

KEY = os.urandom(32)


def test_pseudonyms_are_stable_and_scoped_to_the_municipality():
    a = Pseudonymiser(KEY, "131016")
    assert a.one("0000012345") == Pseudonymiser(KEY, "131016").one("0000012345")
    assert a.one("0000012345") != Pseudonymiser(KEY, "271004").one("0000012345")
    assert a.one("0000012345") != Pseudonymiser(os.urandom(32), "131016").one("0000012345")
    assert len(a.one("1")) == 32


def test_identifiers_are_normalised_before_hashing():
    assert normalize_identifier(" ０００１２３ ") == "123"
    assert normalize_identifier("A-001") == "A-001"
    p = Pseudonymiser(KEY, "131016")
    assert p.one("0000012345") == p.one("12345") == p.one("１２３４５")


def test_series_keeps_missing_and_blank_as_missing():
    p = Pseudonymiser(KEY, "131016")
    out = p.series(pd.Series(["1", None, "  ", "1"], dtype="str"))
    assert out.iloc[0] == out.iloc[3] == p.one("1")
    assert out.iloc[1:3].isna().all()


def test_households_never_share_a_pseudonym_with_residents():
    assert household_pseudonym(KEY, "131016", "12345") != Pseudonymiser(KEY, "131016").one("12345")


def test_vault_round_trip_and_binding_to_its_row():
    vault = Vault(KEY)
    sealed = vault.seal("131016", "abc", "0000012345")
    assert b"12345" not in sealed
    assert vault.open("131016", "abc", sealed) == "0000012345"
    with pytest.raises(ConfigError, match="does not decrypt"):
        vault.open("131016", "another-resident", sealed)
    with pytest.raises(ConfigError):
        Vault(os.urandom(32)).open("131016", "abc", sealed)
