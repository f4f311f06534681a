"""Feature cards (sklearn_mini.cards): the page's content, and that it renders in a real
headless browser without console errors."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from sklearn_mini import SpikeSAE
from sklearn_mini.behaviour import AlignedLabel, ablation_importance
from sklearn_mini.cards import event_average, feature_cards

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def _browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser on PATH (looked for {', '.join(BROWSERS)}; on Debian: "
                "apt-get install chromium-headless-shell)")


def _open(browser, page, *flags):
    """Load ``page``; returns (stdout, the browser's console lines)."""
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", *flags, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.poisson(0.5, size=(600, 16)).astype(np.float32)
    sae = SpikeSAE(d_sae=12, topk=2, n_epochs=3, random_state=0).fit(X)
    Z = sae.transform(X)
    event = np.zeros(600, dtype=bool)
    event[50::60] = True
    labels = {"image": np.repeat(np.arange(6), 100),
              "event lick": event,
              "trial type": AlignedLabel(np.repeat(["a", "b"], 300),
                                         np.arange(600) % 100 < 80)}
    path = tmp_path_factory.mktemp("cards") / "features.html"
    shown = feature_cards(path, sae.components_, Z, ablation_importance(sae, X),
                          labels=labels, positions=(np.arange(16) % 4, np.arange(16) // 4))
    return path, shown, Z


def test_cards_are_sorted_by_importance_and_self_contained(page):
    path, shown, Z = page
    text = path.read_text()
    assert shown.size == np.count_nonzero((Z != 0).any(0))
    assert text.count('<div class="card"') == shown.size
    ids = [int(i) for i in re.findall(r'id="latent-(\d+)"', text)]
    assert ids == shown.tolist()
    # No file, script or network the page would need beside itself.
    assert not re.search(r"<script|<img|<link|url\(|https?://(?!www\.w3\.org/2000/svg)", text)
    assert "around each event" in text and "<circle" in text  # event average, layout
    assert "those active on the scored bins" in text


def test_max_cards_keeps_the_most_important_and_says_so(page, tmp_path):
    path, shown, Z = page
    importance = np.arange(Z.shape[1], dtype=float)  # the last latent is the most important
    capped = feature_cards(tmp_path / "capped.html", np.ones((Z.shape[1], 16)), Z, importance,
                           max_cards=2)
    alive = np.flatnonzero((Z != 0).any(0))
    assert capped.tolist() == alive[::-1][:2].tolist()
    assert f"2 of {Z.shape[1]} latents (the most important of the {alive.size} active" in (
        tmp_path / "capped.html").read_text()


def test_the_page_renders_in_a_headless_browser(page, tmp_path):
    browser = _browser()
    path, shown, _ = page
    dom, console = _open(browser, path, "--dump-dom")
    assert console == [], console
    assert dom.count('class="card"') == shown.size
    shot = tmp_path / "cards.png"
    _open(browser, path, f"--screenshot={shot}", "--window-size=1200,900")
    image = pytest.importorskip("matplotlib.pyplot", reason="the 'test' extra").imread(shot)
    assert image.shape[:2] == (900, 1200)
    assert image[..., :3].std() > 0.05  # something was drawn, not a blank page


def test_the_console_check_catches_an_error(tmp_path):
    """The browser test above can fail: a page with a script error is caught."""
    browser = _browser()
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    _, console = _open(browser, bad, "--dump-dom")
    assert any("undefinedFunction" in line for line in console)


def test_event_average_by_hand():
    z = np.arange(10, dtype=float)
    event = np.zeros(10, dtype=bool)
    event[[3, 6]] = True
    lags, average = event_average(z, event, window=2)
    assert lags.tolist() == [-2, -1, 0, 1, 2]
    assert average.tolist() == [2.5, 3.5, 4.5, 5.5, 6.5]  # means of 1..5 and 4..8
    assert event_average(z, np.zeros(10, dtype=bool), window=2)[1] is None


def test_cards_refuse_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match="disagree on the number of latents"):
        feature_cards(tmp_path / "x.html", np.ones((3, 4)), np.ones((5, 2)), np.ones(3))
    with pytest.raises(ValueError, match="A label has 4 values; Z has 5 rows"):
        feature_cards(tmp_path / "x.html", np.ones((2, 4)), np.ones((5, 2)), np.ones(2),
                      labels={"x": np.zeros(4)})
