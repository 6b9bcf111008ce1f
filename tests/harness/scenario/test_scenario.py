"""Scenarios as a user meets them: built-ins, their sizes, plans, branches, files, ShareGPT, errors.

Covers harness/scenario/scenario.py and the harness/scenario_*.py modules it is split into.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from deploy.tiny_model import build
from harness.scenario.distribution import parse_distribution
from harness.scenario.scenario import ConversationPlan, Scenario, ScenarioError, builtin_scenarios, load_scenario
from harness.scenario.tokenizer import PromptTokenizer, load_tokenizer

# What each built-in promises: shared-context tokens, per-user tokens, turns, think time, max_tokens.
PROMISES = {
    "support": (4000, 300, (2, 6), (1, 60), 200),
    "coding": (6000, 800, (3, 8), (2, 120), 400),
    "shared-context": (7000, 0, (4, 4), (2, 5), 128),
}
SHOP = '[shared_context]\nsource = "shop-policies"\n'
MINIMAL = 'system_prompt = "You help."\n[questions]\npool = ["Why?", "How?", "What?", "When?"]\n'


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PromptTokenizer:
    return load_tokenizer(str(build(tmp_path_factory.mktemp("m"))))


@pytest.fixture(scope="module")
def builtins(tokenizer: PromptTokenizer) -> dict[str, Scenario]:
    return {name: load_scenario(name, tokenizer) for name in builtin_scenarios()}


def write(tmp_path: Path, text: str, name: str = "x.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def plans(scenario: Scenario, count: int = 300) -> list[ConversationPlan]:
    return [scenario.plan(random.Random(seed)) for seed in range(count)]


def shared_part(scenario: Scenario) -> str:
    return f"{scenario.system_prompt}\n\n{scenario.shared_context}"


# Built-ins


def test_the_builtins_are_listed_by_name() -> None:
    assert builtin_scenarios() == ["coding", "shared-context", "support"]


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_each_builtin_has_its_promised_sizes_exactly(
    builtins: dict[str, Scenario], tokenizer: PromptTokenizer, name: str
) -> None:
    scenario = builtins[name]
    shared_tokens, user_tokens, _, _, _ = PROMISES[name]
    assert scenario.exact_tokens
    assert scenario.source == f"builtin:{name}"
    assert tokenizer.count(scenario.shared_context) == shared_tokens == scenario.shared_context_tokens
    assert scenario.shared_prefix_tokens() == tokenizer.count(shared_part(scenario))
    for user in range(40):
        user_context = scenario.system_message(user)[len(shared_part(scenario)) :].removeprefix("\n\n")
        assert tokenizer.count(user_context) == user_tokens


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_the_shared_part_is_a_common_prefix_of_every_users_system_message(
    builtins: dict[str, Scenario], name: str
) -> None:
    scenario = builtins[name]
    messages = [scenario.system_message(user) for user in range(6)]
    assert all(m.startswith(shared_part(scenario)) for m in messages)
    assert len(set(messages)) == (1 if name == "shared-context" else 6)


@pytest.mark.parametrize("name", ["support", "coding"])
def test_per_user_contexts_differ_between_users_and_repeat_for_the_same_user(
    builtins: dict[str, Scenario], tokenizer: PromptTokenizer, name: str
) -> None:
    scenario = builtins[name]
    messages = [scenario.system_message(user) for user in range(200)]
    assert len(set(messages)) == 200  # more users than standard-library modules still differ
    reloaded = load_scenario(name, tokenizer)
    assert reloaded.system_message(7) == scenario.system_message(7)


def test_support_users_bring_an_account_record_and_coders_their_own_file(builtins: dict[str, Scenario]) -> None:
    record = builtins["support"].system_message(12)
    assert "CUSTOMER ACCOUNT RECORD" in record and "Customer ID: HP-0000012" in record and "Order HP-" in record
    assert "returned within 30 days" in builtins["support"].shared_context
    code = builtins["coding"].system_message(3)
    assert "# ===== project_3/" in code
    assert builtins["coding"].shared_context.startswith("# ===== json/__init__.py =====")


def test_shared_context_users_share_the_whole_system_message(builtins: dict[str, Scenario]) -> None:
    scenario = builtins["shared-context"]
    assert scenario.system_message(0) == scenario.system_message(99) == shared_part(scenario)


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_plans_follow_the_builtins_distributions(builtins: dict[str, Scenario], name: str) -> None:
    _, _, (fewest, most), (soonest, latest), max_tokens = PROMISES[name]
    drawn = plans(builtins[name])
    assert {len(p.turns) for p in drawn} == set(range(fewest, most + 1))
    turns = [t for p in drawn for t in p.turns]
    assert all(soonest <= t.think_time_s <= latest for t in turns)
    assert all(t.max_tokens == max_tokens for t in turns)


def test_shared_context_answers_have_an_exact_length_and_questions_never_repeat(
    builtins: dict[str, Scenario],
) -> None:
    for plan in plans(builtins["shared-context"]):
        assert all(t.min_tokens == t.max_tokens == 128 for t in plan.turns)
        assert len({t.question for t in plan.turns}) == 4
        assert plan.branches == 0


def test_plans_are_reproducible_from_a_seed_and_vary_across_seeds(builtins: dict[str, Scenario]) -> None:
    scenario = builtins["support"]
    assert scenario.plan(random.Random(42)) == scenario.plan(random.Random(42))
    assert len({scenario.plan(random.Random(seed)) for seed in range(20)}) == 20


def test_nothing_is_tokenized_after_load(
    tokenizer: PromptTokenizer, monkeypatch: pytest.MonkeyPatch, builtins: dict[str, Scenario]
) -> None:
    scenario = load_scenario("coding", tokenizer)
    scenario.prepare(3)

    def forbidden(*args: object) -> None:
        raise AssertionError("tokenized on the request path")

    for method in ("count", "fit", "count_chat"):
        monkeypatch.setattr(tokenizer, method, forbidden)
    scenario.plan(random.Random(1))
    assert all(scenario.system_message(user) for user in range(3))
    assert scenario.describe()["shared_prefix_tokens"] == scenario.shared_prefix_tokens()


def test_describe_records_what_a_run_needs_and_is_json(builtins: dict[str, Scenario]) -> None:
    described = builtins["shared-context"].describe()
    json.dumps(described)
    assert described["name"] == "shared-context"
    assert described["source"] == "builtin:shared-context"
    assert described["seed"] == 3
    assert described["exact_tokens"] is True
    assert described["shared_context"] == {"source": "kv-store-design", "tokens": 7000}
    assert described["turns"] == {"dist": "constant", "value": 4}
    assert described["think_time_s"] == {"dist": "uniform", "min": 2, "max": 5}
    assert described["max_tokens"] == {"dist": "constant", "value": 128}
    assert described["min_tokens"] == 128


def test_an_approximate_tokenizer_still_loads_every_builtin_and_says_so() -> None:
    fallback = load_tokenizer(None)
    for name in builtin_scenarios():
        scenario = load_scenario(name, fallback)
        assert not scenario.exact_tokens
        assert fallback.count(scenario.shared_context) == PROMISES[name][0]
        assert "approximate" in str(scenario.describe()["tokenizer_description"])


# Branches


def branching(tmp_path: Path, tokenizer: PromptTokenizer, probability: float) -> Scenario:
    text = f"branch_probability = {probability}\nturns = 8\n" + MINIMAL.replace('"When?"', '"When?", "Who?", "Where?"')
    return load_scenario(write(tmp_path, text), tokenizer)


def test_branch_probability_zero_never_branches(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    assert all(plan.branches == 0 for plan in plans(branching(tmp_path, tokenizer, 0.0), 100))


def test_branch_probability_one_branches_every_turn_after_the_first(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    kinds = set()
    for plan in plans(branching(tmp_path, tokenizer, 1.0), 100):
        assert plan.turns[0].branch is None
        visible = [plan.turns[0].question]  # the user messages of the branch the person sees
        for number, turn in enumerate(plan.turns[1:], start=2):
            branch = turn.branch
            assert branch is not None and 1 <= branch.at_turn <= len(visible) < number
            kinds.add(branch.kind)
            forked = visible[branch.at_turn - 1]
            if branch.kind == "regenerate":  # the last answer, asked again word for word
                assert branch.at_turn == len(visible) and turn.question == forked and branch.question is None
            else:  # a question on the branch, reworded; what followed it is gone
                assert branch.question == turn.question
                assert forked in turn.question and turn.question != forked
                visible[branch.at_turn - 1 :] = [turn.question]
    assert kinds == {"regenerate", "edit"}


def test_some_branching_mixes_fresh_questions_and_forks(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    turns = [t for p in plans(branching(tmp_path, tokenizer, 0.3), 200) for t in p.turns[1:]]
    share = sum(t.branch is not None for t in turns) / len(turns)
    assert 0.25 < share < 0.35


# Scenario files


def test_a_file_scenario_with_a_file_shared_context_is_sized_with_numbered_section_repeats(
    tmp_path: Path, tokenizer: PromptTokenizer
) -> None:
    (tmp_path / "doc.txt").write_text("# Handbook\n\n## Leave\nTake it.\n\n## Pay\nMonthly, on the 25th.\n")
    (tmp_path / "qs.txt").write_text("# comment\nWhat is the leave policy?\n\nWhen is payday?\n")
    text = (
        'name = "hr"\nsystem_prompt = "Answer from the handbook."\n'
        '[shared_context]\nsource = "doc.txt"\ntokens = 500\n'
        '[user_context]\nkind = "account_record"\ntokens = 120\n'
        '[questions]\nfile = "qs.txt"\n'
    )
    scenario = load_scenario(write(tmp_path, text), tokenizer)
    assert tokenizer.count(scenario.shared_context) == 500
    assert "## Pay (section 6)" in scenario.shared_context
    assert scenario.source == str(tmp_path / "x.toml")
    asked = {t.question for p in plans(scenario, 20) for t in p.turns}
    assert asked == {"What is the leave policy?", "When is payday?"}


def test_a_shared_context_without_tokens_is_used_as_it_is(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    (tmp_path / "doc.txt").write_text("Short document.")
    text = MINIMAL.replace("[questions]", '[shared_context]\nsource = "doc.txt"\n[questions]')
    assert load_scenario(write(tmp_path, text), tokenizer).shared_context == "Short document."


def test_template_questions_fill_every_placeholder(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    text = (
        'system_prompt = "You help."\nturns = 5\n[questions]\ntemplates = ["How do I {task} with {tool}?"]\n'
        '[questions.fill]\ntask = ["deploy", "test", "debug"]\ntool = ["make", "tox"]\n'
    )
    scenario = load_scenario(write(tmp_path, text), tokenizer)
    questions = [t.question for p in plans(scenario, 50) for t in p.turns]
    assert set(questions) <= {f"How do I {a} with {b}?" for a in ("deploy", "test", "debug") for b in ("make", "tox")}
    assert all(len({t.question for t in p.turns}) == 5 for p in plans(scenario, 50))


def test_exact_lengths_follow_a_drawn_max_tokens(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    text = 'max_tokens = {dist = "poisson", mean = 50, min = 10, max = 80}\nmin_tokens = "max_tokens"\n' + MINIMAL
    turns = [t for p in plans(load_scenario(write(tmp_path, text), tokenizer), 200) for t in p.turns]
    assert all(t.min_tokens is not None and 10 <= t.max_tokens == t.min_tokens <= 80 for t in turns)
    assert len({t.max_tokens for t in turns}) > 10


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    scenario = load_scenario(write(tmp_path, MINIMAL), tokenizer)
    assert scenario.name == "x" and scenario.seed == 0 and scenario.temperature is None
    assert scenario.system_message(0) == "You help."
    turns = [t for p in plans(scenario, 200) for t in p.turns]
    assert all(len(p.turns) == 3 for p in plans(scenario, 20))
    assert all(t.max_tokens == 256 and t.min_tokens is None and 1 <= t.think_time_s <= 60 for t in turns)


@pytest.mark.parametrize(
    ("raw", "mean", "low", "high"),
    [
        ({"dist": "lognormal", "mean": 8.0, "sigma": 0.5}, 8.0, 0, None),
        ({"dist": "poisson", "mean": 4}, 4.0, 1, None),
        ({"dist": "uniform", "min": 2, "max": 6}, 4.0, 2, 6),
    ],
)
def test_distributions_have_the_mean_they_are_given(raw: dict, mean: float, low: float, high: float | None) -> None:
    integer = raw["dist"] == "poisson"
    dist = parse_distribution(raw, "x", integer=integer, floor=low)
    rng = random.Random(0)
    draws = [dist.draw(rng) for _ in range(20_000)]
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.03)
    assert min(draws) >= low and (high is None or max(draws) <= high)
    assert all(float(d).is_integer() for d in draws) or not integer


# ShareGPT


def test_sharegpt_conversations_replay_their_human_turns(tmp_path: Path, tokenizer: PromptTokenizer) -> None:
    def said(*turns: tuple[str, str]) -> list[dict[str, str]]:
        return [{"from": who, "value": value} for who, value in turns]

    data = [
        {"id": "a", "conversations": said(("human", "A1"), ("gpt", "x"), ("human", "A2"))},
        {"id": "b", "conversations": said(("system", "Be terse."), ("human", "B1"))},
        {"id": "empty", "conversations": said(("gpt", "nobody asked"))},
        {"id": "long", "conversations": said(*(("human", f"L{i}") for i in range(25)))},
    ]
    path = write(tmp_path, json.dumps(data), "data.json")
    scenario = load_scenario(f"sharegpt:{path}", tokenizer)
    assert scenario.source == f"sharegpt:{path}"
    seen = {}
    for plan in plans(scenario, 60):
        questions = tuple(t.question for t in plan.turns)
        seen[questions[0][0]] = (questions, plan.system_prompt)
        assert all(t.max_tokens == 256 and t.branch is None for t in plan.turns)
    assert seen["A"] == (("A1", "A2"), None)
    assert seen["B"] == (("B1",), "Be terse.")
    assert seen["L"] == (tuple(f"L{i}" for i in range(20)), None)  # capped at 20 turns
    assert set(seen) == {"A", "B", "L"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"conversations": []}', "data.json: expected a JSON list of conversations, found a dict"),
        ("[{]", "data.json: not valid JSON: "),
        ('[{"conversations": []}, 7]', "data.json: entry 1: must be an object with a 'conversations' list"),
        ('[{"conversations": []}, {"conversations": {}}]', "data.json: entry 1: 'conversations' must be a list"),
        (
            '[{"conversations": [{"from": "robot", "value": "hi"}]}]',
            "data.json: entry 0: conversations[0]: 'from' must",
        ),
        ('[{"conversations": [{"from": "human", "value": 3}]}]', "data.json: entry 0: conversations[0]: 'value' must"),
        ('[{"conversations": [{"from": "gpt", "value": "hi"}]}]', "data.json: no conversation has a human turn"),
    ],
)
def test_bad_sharegpt_files_name_the_file_and_the_entry(
    tmp_path: Path, tokenizer: PromptTokenizer, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.json").write_text(content)
    with pytest.raises(ScenarioError) as caught:
        load_scenario("sharegpt:data.json", tokenizer)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# Bad scenario files: one line, naming the file and the field


BAD_FILES = [
    ("truns = 3\n" + MINIMAL, "unknown field 'truns' (did you mean 'turns'?)"),
    ("turns = {dist = 'uniform', min = 0, max = 3}\n" + MINIMAL, "[turns] min must be at least 1"),
    ("turns = 2.5\n" + MINIMAL, "[turns] value must be a whole number"),
    ("turns = {dist = 'uniform', min = 4, max = 3}\n" + MINIMAL, "[turns] min must not be greater than max"),
    ("turns = {dist = 'uniform', min = 2}\n" + MINIMAL, "[turns] dist 'uniform' needs 'max'"),
    ("turns = {dist = 'uniform', mn = 2, max = 3}\n" + MINIMAL, "[turns] unknown field 'mn' for dist 'uniform'"),
    ("think_time = {dist = 'gamma', mean = 3}\n" + MINIMAL, "[think_time] dist must be one of constant, uniform"),
    ("think_time = {dist = 'lognormal', mean = 3, sigma = -1}\n" + MINIMAL, "[think_time] sigma must not be negative"),
    ("think_time = {dist = 'lognormal', mean = 0, sigma = 1}\n" + MINIMAL, "[think_time] mean must be greater than 0"),
    ("think_time = 'slow'\n" + MINIMAL, "[think_time] must be a number or a table"),
    ("branch_probability = 1.5\n" + MINIMAL, "branch_probability must be between 0 and 1"),
    ("temperature = 'hot'\n" + MINIMAL, "temperature must be a number"),
    ("max_tokens = 0\n" + MINIMAL, "[max_tokens] value must be at least 1"),
    ("max_tokens = 100\nmin_tokens = 200\n" + MINIMAL, "min_tokens must not be greater than max_tokens"),
    ("min_tokens = 'lots'\n" + MINIMAL, 'min_tokens must be a whole number of at least 0, or "max_tokens"'),
    ("seed = -1\n" + MINIMAL, "seed must be at least 0"),
    ("name = 5\n" + MINIMAL, "name must be a string"),
    ("source = 'doc.txt'\n" + MINIMAL, "unknown field 'source' (it belongs in [shared_context])"),
    ("system_prompt = 'x'\nturns = [\n", "not valid TOML: "),
    ('[questions]\npool = ["Why?"]\n', "system_prompt is required"),
    ('system_prompt = "x"\n', "[questions] is required"),
    ('system_prompt = "x"\n[questions]\npool = []\n', "[questions] pool must not be empty"),
    ('system_prompt = "x"\n[questions]\npool = ["a"]\nfile = "q.txt"\n', "[questions] needs exactly one of pool"),
    ('system_prompt = "x"\n[questions]\nfile = "nope.txt"\n', "[questions] file 'nope.txt' is not a file"),
    ('system_prompt = "x"\n[questions]\nfile = "empty.txt"\n', "[questions] file 'empty.txt' has no questions"),
    ('system_prompt = "x"\n[questions]\ntemplates = ["Why {x}?"]\n', "[questions] template 'Why {x}?' uses {x}, but"),
    (MINIMAL + '[shared_context]\nsource = "nope.txt"\n', "[shared_context] source 'nope.txt' is neither a built-in"),
    ('system_prompt = "x"\n[questions]\ntemplates = ["{x}"]\n[questions.fill]\nx = [3]\n',
     "[questions.fill] x must be a list of non-empty strings"),
    (MINIMAL + SHOP + "tokens = 0\n", "[shared_context] tokens must be at least 1"),
    (MINIMAL + SHOP + "max_tokens = 9\n", "[shared_context] unknown field 'max_tokens'"),
    (MINIMAL + '[user_context]\nkind = "diary"\ntokens = 9\n', "[user_context] kind must be one of account_record"),
    (MINIMAL + '[user_context]\nkind = "source_file"\n', "[user_context] tokens is required for kind 'source_file'"),
    (MINIMAL + "shared_context = 3\n", "[questions] unknown field 'shared_context' (top-level keys go before"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem"), BAD_FILES, ids=[problem for _, problem in BAD_FILES])
def test_a_bad_scenario_file_gives_one_line_naming_the_file_and_the_field(
    tmp_path: Path, tokenizer: PromptTokenizer, text: str, problem: str
) -> None:
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, tokenizer)
    message = str(caught.value)
    assert message.startswith(f"{path}: {problem}")
    assert "\n" not in message


def test_an_unknown_scenario_name_lists_the_choices(tokenizer: PromptTokenizer, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^nosuch: no such scenario; use a built-in \(coding, shared-context, "):
        load_scenario("nosuch", tokenizer)
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match=r"missing\.toml: no such file"):
        load_scenario(missing, tokenizer)
