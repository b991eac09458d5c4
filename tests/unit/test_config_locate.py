"""SourceMap: the line a value of a configuration is written on, or the
line of the object that takes a default in its place."""

from __future__ import annotations

from ikev2d.conf.locate import Location, Named, SourceMap

TEXT = """\
objects:
  ikev2_policies:
    - name: A
      encryption: [AES-256, 3DES]
    - name: B
      encryption:
        - AES
        - DES
      integrity: SHA512
      prf:
"""


def test_paths_through_keys_names_and_indexes() -> None:
    where = SourceMap.of_text(TEXT)
    policies = ("objects", "ikev2_policies")
    assert where.find(*policies, Named("A")) == Location(3, True)
    assert where.find(*policies, Named("A"), "encryption", 1) == Location(4, True)
    assert where.find(*policies, Named("B"), "encryption", 1) == Location(8, True)
    # A single scalar is a one-item list, as the loader reads it.
    assert where.find(*policies, Named("B"), "integrity", 0) == Location(9, True)
    assert where.find(*policies, 1, "encryption", 0) == Location(7, True)


def test_missing_values_fall_back_to_the_nearest_object() -> None:
    where = SourceMap.of_text(TEXT)
    policies = ("objects", "ikev2_policies")
    assert where.find(*policies, Named("A"), "dh_groups") == Location(3, False)
    # `prf:` with nothing after it means "default": not written.
    assert where.find(*policies, Named("B"), "prf") == Location(5, False)
    assert where.find(*policies, Named("C")) == Location(3, False)  # the list starts there
    assert where.find(*policies, Named("A"), "encryption", 5) == Location(4, False)
    assert where.find("nothing", "here") == Location(1, False)


def test_unreadable_text_answers_line_one() -> None:
    assert SourceMap.of_text("a: [").find("a") == Location(1, False)
    assert SourceMap.of_text("").find("a") == Location(1, False)
