"""The deterministic requirement checks (prism.domain.requirement_analysis): exact findings for exact texts."""

from prism.domain.requirement_analysis import (
    _BULLET,
    _GIVEN_WHEN,
    _THEN,
    Finding,
    FindingCategory,
    RequirementText,
    Severity,
    analyze,
    merge,
)

GOOD_CRITERIA = "Scenario: export\n  Given a closed sprint\n  When I export it\n  Then a PDF of 1 page downloads"


def story(**fields: object) -> RequirementText:
    values: dict[str, object] = {
        "kind": "STORY",
        "title": "Export the sprint report",
        "description": "As a manager, I want a PDF so that I can share it.",
        "acceptance_criteria": GOOD_CRITERIA,
        "estimate": 3.0,
    }
    values.update(fields)
    return RequirementText(**values)  # type: ignore[arg-type]


def rules_of(text: RequirementText) -> list[tuple[str | None, str, str | None]]:
    return [(f.rule, f.severity.value, f.field) for f in analyze(text)]


def test_a_well_written_story_has_no_findings() -> None:
    assert analyze(story()) == []


def test_missing_acceptance_criteria_are_high_for_a_story_low_for_a_task_and_ignored_for_an_epic() -> None:
    (finding,) = analyze(story(acceptance_criteria="  "))
    assert finding == Finding(
        rule="missing-acceptance-criteria",
        category=FindingCategory.ACCEPTANCE_CRITERIA,
        severity=Severity.HIGH,
        field="acceptanceCriteria",
        message="It has no acceptance criteria: nobody can tell when it is done (INVEST: testable).",
        suggested_rewrite=(
            "Scenario: Export the sprint report\n  Given <the situation before>\n  When <what the person does>\n"
            "  Then <what the person can check>"
        ),
    )
    assert rules_of(story(kind="TASK", acceptance_criteria="")) == [
        ("missing-acceptance-criteria", "LOW", "acceptanceCriteria")
    ]
    assert rules_of(story(kind="EPIC", acceptance_criteria="", estimate=None)) == []


def test_criteria_without_a_then_are_untestable_and_rewritten_as_gherkin() -> None:
    (finding,) = analyze(story(acceptance_criteria="- The PDF has the burndown.\n- Works offline"))
    assert (finding.rule, finding.severity, finding.category) == (
        "untestable-acceptance-criteria",
        Severity.MEDIUM,
        FindingCategory.ACCEPTANCE_CRITERIA,
    )
    assert finding.suggested_rewrite == (
        "Scenario: Export the sprint report\n  Given <the situation before>\n  When <what the person does>\n"
        "  Then the PDF has the burndown\n  And works offline"
    )


def test_each_vague_term_is_found_once_per_field_with_a_rewrite_and_criteria_weigh_more() -> None:
    text = story(
        title="Fast export",
        description="The export must be fast and user-friendly, fast again. As a manager, so that I can share it.",
        acceptance_criteria=GOOD_CRITERIA + "\n  And several charts, etc.",
    )
    found = [(f.field, f.severity.value, f.message.split('"')[1]) for f in analyze(text)]
    assert found == [
        ("acceptanceCriteria", "HIGH", "several"),
        ("acceptanceCriteria", "HIGH", "etc"),
        ("title", "MEDIUM", "Fast"),
        ("description", "MEDIUM", "fast"),
        ("description", "MEDIUM", "user-friendly"),
    ]
    fast = next(f for f in analyze(text) if f.field == "description")
    assert fast.message == '"fast" is vague: nobody can check it. Say a time, like within 2 seconds.'
    assert fast.suggested_rewrite == (
        "The export must be [a time, like within 2 seconds] and user-friendly, [a time, like within 2 seconds] again."
    )
    assert analyze(story(description="Breakfast is a steadfast habit, so that we can eat.")) == []  # whole words


def test_size_past_eight_points_is_medium_past_thirteen_high_and_no_estimate_is_low() -> None:
    assert rules_of(story(estimate=8.0)) == []
    assert rules_of(story(estimate=13.0)) == [("too-large", "MEDIUM", "estimate")]
    (large,) = analyze(story(estimate=21.0, description="Export it. Email it to stakeholders so that they read it."))
    assert (large.severity, large.category) == (Severity.HIGH, FindingCategory.SIZE)
    assert large.message == "21 points is more than a story should be (at most 8): split it (INVEST: small)."
    assert large.suggested_rewrite == (
        "Split into stories of at most 8 points each: 1. Email it to stakeholders so that they read it."
    )
    assert rules_of(story(estimate=None)) == [("not-estimated", "LOW", "estimate")]
    assert rules_of(story(kind="FEATURE", estimate=40.0)) == []  # features and epics are containers


def test_invest_dependencies_prescriptions_missing_benefit_and_two_things() -> None:
    text = story(
        title="Export reports and email them",
        description="Blocked by PRISM-12 and OPS-3. It must use the WeasyPrint library.",
    )
    assert rules_of(text) == [  # the most severe first, then in rule order
        ("no-benefit", "MEDIUM", "description"),
        ("dependency", "LOW", "description"),
        ("prescribes-solution", "LOW", "description"),
        ("two-things", "LOW", "title"),
    ]
    by_rule = {f.rule: f for f in analyze(text)}
    assert (
        by_rule["dependency"].message == "It depends on PRISM-12, OPS-3 (INVEST: independent): can it ship on its own?"
    )
    assert by_rule["no-benefit"].suggested_rewrite == (
        "As a user, I want to export reports and email them, so that <the benefit>."
    )
    assert by_rule["two-things"].suggested_rewrite == "Split into 'Export reports' and 'email them'."
    assert rules_of(story(description="Mentions PRISM-12 as prior art, so that we learn.")) == []


def test_merge_keeps_the_rules_drops_a_model_repeat_and_orders_by_severity() -> None:
    rule = analyze(story(acceptance_criteria=""))[0]
    repeat = Finding(None, rule.category, Severity.LOW, rule.field, rule.message.upper(), "same")
    extra_high = Finding(None, FindingCategory.INVEST, Severity.HIGH, "title", "It is two epics.", "Split.")
    extra_low = Finding(None, FindingCategory.AMBIGUITY, Severity.LOW, "description", "Who is 'they'?", "Name them.")
    assert merge([rule], [extra_low, repeat, extra_high]) == [rule, extra_high, extra_low]


def test_a_then_step_is_matched_within_its_own_line() -> None:
    found = _THEN.search("Given a sprint\n\n\n\nThen the report lists it")
    assert found is not None
    assert found.group(0).startswith("Then")


def test_the_then_search_does_not_scan_past_its_line_from_every_blank_line() -> None:
    # Review finding: `^\s*` let a match start at a blank line and run over all the blank lines after it, which is
    # quadratic in the criteria (19,998 newlines took 16.5 s). A match may only span its own line.
    text = "Scenario" + "\n" * 50 + "Then it works"
    found = _THEN.search(text)
    assert found is not None
    assert "\n" not in found.group(0)
    for pattern in (_THEN, _GIVEN_WHEN, _BULLET):
        assert pattern.match("\n\n  - Then it works", 0) is None
        assert pattern.match("\n\n  - Then it works", 1) is None


def test_steps_and_bullets_are_indented_with_spaces_and_tabs_within_their_line() -> None:
    assert _THEN.match(" \t- and then it works") is not None
    assert _GIVEN_WHEN.match("\t* When I export it") is not None
    assert _BULLET.sub("", "  12) the PDF has the burndown") == "the PDF has the burndown"


def test_criteria_of_only_line_breaks_around_a_then_step_are_testable() -> None:
    assert analyze(story(acceptance_criteria="Given a sprint" + "\n" * 19_980 + "  Then the report lists it")) == []
    (finding,) = analyze(story(acceptance_criteria="- The PDF has the burndown" + "\n" * 19_970 + "- Works offline"))
    assert finding.rule == "untestable-acceptance-criteria"
    assert finding.suggested_rewrite is not None
    assert finding.suggested_rewrite.endswith("  Then the PDF has the burndown\n  And works offline")
