from bench.harness.results_file import markers, splice

HAND_WRITTEN = "# Benchmark results\n\nOur analysis, kept across runs.\n"


def test_splice_appends_a_section_after_the_hand_written_part():
    document = splice(HAND_WRITTEN, "compare", "## Comparison\n| a |\n")

    begin, end = markers("compare")
    assert document.startswith(HAND_WRITTEN.rstrip())
    assert document.index(begin) < document.index("## Comparison") < document.index(end)


def test_splice_replaces_only_its_own_mode():
    document = splice(HAND_WRITTEN, "compare", "first compare")
    document = splice(document, "soak", "first soak")
    document += "\nA note after the tables.\n"

    document = splice(document, "compare", "second compare")

    assert "first compare" not in document
    assert "second compare" in document
    assert "first soak" in document
    assert document.endswith("A note after the tables.\n")
    assert "Our analysis, kept across runs." in document
