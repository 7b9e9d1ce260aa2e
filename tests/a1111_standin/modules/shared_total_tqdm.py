"""Stand-in of modules/shared_total_tqdm.py: the console's "Total progress" bar over every sampling step of a job.

Kept: the bar is made at its first update with total = state.job_count * state.sampling_steps, counts one per
sampling step, and lives on until clear() (txt2img calls it after process_images). Instead of printing, it keeps
the count and total of the open bar and of each cleared one.
"""

from modules import shared


class TotalTQDM:
    def __init__(self):
        self.total = None  # None while no bar is open
        self.n = 0
        self.cleared = []  # (count, total) of each bar at clear()

    def reset(self):
        self.total, self.n = shared.state.job_count * shared.state.sampling_steps, 0

    def update(self):
        if not shared.opts.multiple_tqdm or shared.cmd_opts.disable_console_progressbars:
            return
        if self.total is None:
            self.reset()
        self.n += 1

    def updateTotal(self, new_total):  # noqa: N802  (the real name)
        if self.total is None:
            self.reset()
        self.total = new_total

    def clear(self):
        if self.total is not None:
            self.cleared.append((self.n, self.total))
            self.total, self.n = None, 0
