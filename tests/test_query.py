"""Keyword queries: analysis, synonyms, phrases and hostile syntax, parsed into concepts."""

from __future__ import annotations

import re

import pytest

from finder.generate import listings
from finder.search.query import (
    EXACT,
    FUZZY,
    MAX_CONCEPTS,
    MAX_QUERY_LENGTH,
    SYNONYM,
    Concept,
    Synonyms,
    analyze,
    analyzer,
    parse,
    with_corrections,
)

DRY_NEEDLING = ("dry", "needl")


def texts(concepts: list[Concept]) -> list[str]:
    return [concept.text for concept in concepts]


def token_sets(concept: Concept) -> set[tuple[str, ...]]:
    return {alternative.tokens for alternative in concept.alternatives}


def only(concepts: list[Concept]) -> Concept:
    assert len(concepts) == 1, texts(concepts)
    return concepts[0]


# -- analysis --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Dry Needling", DRY_NEEDLING),
        ("DRY NEEDLES", DRY_NEEDLING),
        ("the back of the knee", ("back", "knee")),
        ("Café Thérapies", ("cafe", "therapi")),
        ("pain!", ("pain",)),
    ],
)
def test_analysis_folds_case_accents_stop_words_and_stems(
    text: str, tokens: tuple[str, ...]
) -> None:
    assert analyze(text) == tokens


def test_analyze_finds_what_the_whoosh_analyser_finds() -> None:
    """``analyze`` is the analyser's steps without its token objects: they must agree."""
    texts = [" ".join(row.values()) for row in listings(300, seed=9)] + [
        "e-stim 3.5mg U.S.A. naïve Zoë ß İstanbul ÆSIR a I x.y.z _under_ 42 Ø",
        "MÜNCHEN straße œuvre ﬁne Ĳssel ǅemal x² ½ ⅔ ２０２６ ΣΊΣΥΦΟΣ", "", "   ", "..."]
    for text in texts:
        assert analyze(text) == tuple(token.text for token in analyzer()(text)), text


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("Dry needling*", DRY_NEEDLING), ("needling***", ("needl",)),
     ("dry *** needling", DRY_NEEDLING)],
)
def test_asterisks_are_punctuation_not_part_of_words(text: str, tokens: tuple[str, ...]) -> None:
    assert analyze(text) == tokens


@pytest.mark.parametrize(
    ("accented", "plain"),
    [("évaluations", "evaluations"), ("rééducation", "reeducation")],
)
def test_accented_and_plain_spellings_analyse_alike(accented: str, plain: str) -> None:
    assert analyze(accented) == analyze(plain)


# -- synonyms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "dry needling",
        "IMS",
        "intramuscular stimulation",
        "Trigger point dry needling",
        "functional dry needling",
        "electrical dry needling",
        "TDN",
    ],
)
def test_dry_needling_synonyms_are_one_concept_with_every_name(query: str) -> None:
    concept = only(parse(query))
    names = token_sets(concept)
    assert {DRY_NEEDLING, ("im",), ("intramuscular", "stimul"),
            ("trigger", "point", "dry", "needl"), ("function", "dry", "needl")} <= names
    assert concept.alternatives[0].kind == EXACT
    assert concept.alternatives[0].tokens == analyze(query)
    assert {a.kind for a in concept.alternatives[1:]} == {SYNONYM}


def test_synonym_alternatives_keep_their_readable_text() -> None:
    concept = only(parse("IMS"))
    by_tokens = {a.tokens: a.text for a in concept.alternatives}
    assert by_tokens[("intramuscular", "stimul")] == "intramuscular stimulation"
    assert by_tokens[("im",)] == "ims"


def test_lay_term_includes_the_broader_term() -> None:
    concept = only(parse("low back pain"))
    assert concept.text == "low back pain"
    assert {("back", "pain"), ("lumbar", "pain"), ("lower", "back", "pain")} <= token_sets(concept)


def test_broader_term_does_not_expand_to_the_lay_term() -> None:
    concepts = parse("back pain")
    assert all(("low", "back", "pain") not in token_sets(c) for c in concepts)
    assert all(len(c.alternatives) == 1 for c in concepts)


def test_quoted_broader_term_does_not_expand_to_the_lay_term() -> None:
    concept = only(parse('"back pain"'))
    assert token_sets(concept) == {("back", "pain")}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("trigger point dry needling", ["trigger point dry needling"]),
        ("trigger point dry needling knots", ["trigger point dry needling", "knots"]),
        ("trigger point", ["trigger point"]),
        ("low back pain sciatica", ["low back pain", "sciatica"]),
        ("sciatica low back pain", ["sciatica", "low back pain"]),
        ("dry needling back pain", ["dry needling", "back", "pain"]),
    ],
)
def test_longest_multiword_synonym_wins(query: str, expected: list[str]) -> None:
    assert texts(parse(query)) == expected


# -- phrases, stop words, duplicates ---------------------------------------------------------


def test_quoted_phrase_is_one_concept_in_order() -> None:
    concept = only(parse('"pain back"'))
    assert concept.alternatives[0].tokens == ("pain", "back")
    assert not concept.is_single_word


def test_quoted_phrase_comes_first_and_keeps_its_synonyms() -> None:
    concepts = parse('sciatica "dry needling"')
    assert texts(concepts) == ["dry needling", "sciatica"]
    assert ("im",) in token_sets(concepts[0])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("the back pain of a runner", ["back", "pain", "runner"]),
        ("the of and a to in", []),
        ('"the"', []),
        ("", []),
        ("   ", []),
    ],
)
def test_stop_words_are_dropped(query: str, expected: list[str]) -> None:
    assert texts(parse(query)) == expected


def test_repeated_words_are_one_concept() -> None:
    concept = only(parse("Dry Needling DRY needling dry needles"))
    assert concept.alternatives[0].tokens == DRY_NEEDLING


def test_concept_text_is_lower_case_with_single_spaces() -> None:
    assert texts(parse("Low   BACK  Pain")) == ["low back pain"]


# -- hostile syntax --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dry AND needling", ["dry needling"]),
        ("dry && needling || pain", ["dry needling", "pain"]),
        ("NOT pain", ["pain"]),
        ("AND OR NOT", []),
        ("back~2", ["back"]),
        ("sciatica^3", ["sciatica"]),
        ("name:foo", ["name", "foo"]),
        ("title:(dry OR needling)", ["title", "dry needling"]),
        ("[dry TO needling]", ["dry needling"]),
        ("{knee}", ["knee"]),
        ('"unbalanced phrase', ["unbalanced", "phrase"]),
        ('"" ""', []),
        ('("dry needling")', ["dry needling"]),
        ("pain?", ["pain"]),
        ("?? ~ ^ : ( ) [ ] { } \\", []),
        ("<script>alert(1)</script>", ["script", "alert"]),
        ("'; DROP TABLE location; --", ["drop", "table", "location"]),
    ],
)
def test_query_syntax_is_plain_text(query: str, expected: list[str]) -> None:
    assert texts(parse(query)) == expected


@pytest.mark.parametrize(
    "query",
    ['dry AND (needling OR "', "* ? ~ ^2 [a TO z]", "a:b:c", '\\"dry', "+dry -needling",
     "\x00\x01", "🙂 dry needling 🙂", "dry" + '"' * 50],
)
def test_hostile_query_never_raises_and_yields_only_word_tokens(query: str) -> None:
    for concept in parse(query):
        for alternative in concept.alternatives:
            assert alternative.tokens
            assert all(re.fullmatch(r"[\w*.]+", token) for token in alternative.tokens)


# -- limits ----------------------------------------------------------------------------------


def test_query_is_cut_at_the_length_cap() -> None:
    query = "pain " * (MAX_QUERY_LENGTH // 5) + "sciatica"  # the cap falls right after a space
    assert len(query) > MAX_QUERY_LENGTH
    assert texts(parse(query)) == ["pain"]


def test_query_at_the_length_cap_is_kept_whole() -> None:
    query = "x" * (MAX_QUERY_LENGTH - len(" sciatica")) + " sciatica"
    assert len(query) == MAX_QUERY_LENGTH
    assert texts(parse(query))[-1] == "sciatica"


def test_length_cap_never_leaves_a_fragment_of_a_cut_word() -> None:
    query = "needling " * 22 + "sciatica"
    assert texts(parse(query)) == ["needling"]


def test_concepts_are_capped() -> None:
    words = [f"term{chr(ord('a') + i)}" for i in range(MAX_CONCEPTS + 3)]
    assert texts(parse(" ".join(words))) == words[:MAX_CONCEPTS]


# -- custom synonyms -------------------------------------------------------------------------

CUSTOM = """\
# A comment line, then a blank line and an indented comment.

   # indented comment
knee pain, gonalgia   # a trailing comment
jumper's knee, runners knee => patellar tendinopathy, knee pain
alpha beta gamma, agb
alpha beta, ab
"""


@pytest.fixture
def custom() -> Synonyms:
    return Synonyms.parse(CUSTOM)


def test_synonyms_file_groups_are_equivalent_both_ways(custom: Synonyms) -> None:
    assert custom.expansions[("knee", "pain")] == [(("gonalgia",), "gonalgia")]
    assert custom.expansions[("gonalgia",)] == [(("knee", "pain"), "knee pain")]


def test_synonyms_file_one_way_rule_expands_every_source_only(custom: Synonyms) -> None:
    expected = [(("patellar", "tendinopathi"), "patellar tendinopathy"),
                (("knee", "pain"), "knee pain")]
    assert custom.expansions[("jumper", "knee")] == expected
    assert custom.expansions[("runner", "knee")] == expected
    assert ("patellar", "tendinopathi") not in custom.expansions
    assert (("jumper", "knee"), "jumper's knee") not in custom.expansions[("knee", "pain")]


def test_synonyms_file_ignores_comments_and_blank_lines(custom: Synonyms) -> None:
    assert set(custom.expansions) == {
        ("knee", "pain"), ("gonalgia",), ("jumper", "knee"), ("runner", "knee"),
        ("alpha", "beta", "gamma"), ("agb",), ("alpha", "beta"), ("ab",),
    }
    assert custom.longest == 3


def test_empty_synonyms_file_has_no_expansions() -> None:
    synonyms = Synonyms.parse("# nothing here\n\n")
    assert synonyms.expansions == {}
    assert synonyms.longest == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alpha beta gamma", ["alpha beta gamma"]),
        ("alpha beta delta", ["alpha beta", "delta"]),
        ("gamma alpha beta", ["gamma", "alpha beta"]),
        ("alpha gamma", ["alpha", "gamma"]),
    ],
)
def test_custom_synonyms_longest_match(custom: Synonyms, query: str, expected: list[str]) -> None:
    assert texts(parse(query, custom)) == expected


def test_custom_synonyms_replace_the_shipped_ones(custom: Synonyms) -> None:
    concept = only(parse("jumper's knee", custom))
    assert token_sets(concept) == {("jumper", "knee"), ("patellar", "tendinopathi"),
                                   ("knee", "pain")}
    shipped_terms = parse("dry needling", custom)
    assert texts(shipped_terms) == ["dry", "needling"]
    assert all(len(c.alternatives) == 1 for c in shipped_terms)


def test_corrections_are_added_as_fuzzy_alternatives() -> None:
    concept = only(parse("sciatcia", Synonyms()))
    corrected = with_corrections(concept, [("sciatica", "sciatica")])
    assert corrected.text == "sciatcia"
    assert [(a.tokens, a.text, a.kind) for a in corrected.alternatives] == [
        (("sciatcia",), "sciatcia", EXACT), (("sciatica",), "sciatica", FUZZY),
    ]
