"""Tool choice weighed by the request's words (core.inference.relevance): which words count,
how a tool scores, and when no prior is sent."""

from __future__ import annotations

from phi4studio.core.inference.relevance import name_weights, request_text, tool_score, words

SOLAR = {"name": "solarFarm.potential",
         "description": "Estimate the energy output of a solar farm given its location and "
                        "panel area."}
WIND = {"name": "windFarm.potential",
        "description": "Estimate the energy output of a wind farm given its location and "
                       "turbine count."}


def test_words_split_names_drop_function_words_and_compare_stems() -> None:
    assert words("solarFarm.potential get_population_by_state") == {
        "solar", "farm", "poten", "popul", "state"}
    assert words("What is the population of the cities?") == {"popul", "citie"}
    assert words("Find it in 2024 for me") == set()  # function words, short words, numbers


def test_a_tool_scores_its_name_words_twice_and_its_description_once() -> None:
    said = words("How much energy could a solar farm in Arizona produce?")
    assert tool_score(SOLAR, said) == 2 * 2 + 1  # solar, farm in the name; energy described
    assert tool_score(WIND, said) == 2 * 1 + 1  # farm; energy
    # a word in both the name and the description counts once, as a name word
    assert tool_score({"name": "solar", "description": "solar solar"}, said) == 2


def test_the_request_is_the_latest_user_turn_and_what_followed() -> None:
    messages = [{"role": "system", "content": "Be brief about wind."},
                {"role": "user", "content": "Wind farm potential?"},
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "And a solar farm?"},
                {"role": "tool", "content": "panel area unknown"}]
    assert request_text(messages) == "And a solar farm?\npanel area unknown"
    weights = name_weights([SOLAR, WIND], messages, 0.5)
    assert weights == {"solarFarm.potential": 0.5 * (2 * 2 + 2), "windFarm.potential": 1.0}


def test_no_prior_where_it_could_change_nothing() -> None:
    ask = [{"role": "user", "content": "How much could a solar farm produce?"}]
    assert name_weights([SOLAR], ask, 1.0) is None  # one tool
    assert name_weights([SOLAR, WIND], ask, 0.0) is None  # off
    assert name_weights([SOLAR, WIND], [{"role": "user", "content": "Estimate the farm"}],
                        1.0) is None  # the words hold both alike
    assert name_weights([SOLAR, WIND], ask, 1.0) == {"solarFarm.potential": 4.0,
                                                     "windFarm.potential": 2.0}
