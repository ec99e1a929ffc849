from storyboard.words import plural


def test_plural_says_one_thing_and_many_things():
    assert plural(1, "scene") == "1 scene"
    assert plural(2, "scene") == "2 scenes"
    assert plural(0, "shot") == "0 shots"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"
