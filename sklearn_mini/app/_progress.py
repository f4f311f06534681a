"""A progress bar over the main job's steps, with its log lines printed above it."""

from tqdm.auto import tqdm


class JobProgress:
    """``step(name)`` advances the bar to the next step; ``log(line)`` prints a line.

    With ``verbose < 1`` there is no bar and lines go straight to ``log``. The bar
    counts steps, not time: the SAE fits, which take most of it, show their own bar.
    """

    def __init__(self, n_steps, verbose, log=print):
        self._print = log
        self._bar = tqdm(total=n_steps, desc="job", unit="step", disable=verbose < 1,
                         leave=False)
        self._started = False

    def step(self, name):
        if self._started:
            self._bar.update()
        self._started = True
        self._bar.set_description(f"job: {name}")
        self.log(f"{name} ...")

    def log(self, line):
        if self._bar.disable or self._print is not print:
            self._print(line)
        else:
            self._bar.write(line)

    def close(self):
        if self._started:
            self._bar.update()
        self._bar.close()
