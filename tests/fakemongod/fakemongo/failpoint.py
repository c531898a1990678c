"""mongod's failCommand fail point (configureFailPoint / waitForFailPoint)."""

import random
import threading
import time

from .bsonutil import is_number, num_norm
from .errors import CommandError


class FailPoint:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.mode = "off"
        self.data = {}
        self.remaining = 0      # times
        self.skip = 0           # skip
        self.prob = 1.0
        self.times_entered = 0

    def configure(self, mode, data):
        with self.lock:
            count = self.times_entered
            if mode == "alwaysOn" or mode == "off":
                self.mode = mode
            elif isinstance(mode, dict) and len(mode) == 1:
                k, v = next(iter(mode.items()))
                if k == "activationProbability":
                    if not is_number(v) or not 0 <= float(v) <= 1:
                        raise CommandError(2, "activationProbability must be between 0.0 and 1.0")
                    self.mode, self.prob = "random", float(v)
                else:
                    if not is_number(v) or num_norm(v) is None or num_norm(v) < 0:
                        raise CommandError(2, "mode value must be a non-negative integer")
                    if k == "times":
                        self.mode, self.remaining = "times", int(num_norm(v))
                        if self.remaining == 0:
                            self.mode = "off"
                    elif k == "skip":
                        self.mode, self.skip = "skip", int(num_norm(v))
                    else:
                        raise CommandError(2, "mode must be one of: 'off', 'alwaysOn', {times: n}, "
                                              "{skip: n}, {activationProbability: p}")
            else:
                raise CommandError(2, "mode must be one of: 'off', 'alwaysOn', {times: n}, {skip: n}, "
                                      "{activationProbability: p}")
            self.data = data if isinstance(data, dict) else {}
            return count

    def evaluate(self, pred):
        """If active and pred(data) holds, count an activation and return data (else None)."""
        with self.lock:
            if self.mode == "off":
                return None
            data = self.data
            if not pred(data):
                return None
            if self.mode == "skip":
                if self.skip > 0:
                    self.skip -= 1
                    return None
            elif self.mode == "times":
                self.remaining -= 1
                if self.remaining <= 0:
                    self.mode = "off"
            elif self.mode == "random":
                if random.random() >= self.prob:
                    return None
            self.times_entered += 1
            self.cond.notify_all()
            return data

    def wait_entered(self, n, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self.times_entered < n:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise CommandError(50, "operation exceeded time limit")
                self.cond.wait(left)


def matches(data, cmd_names, app_name, ns):
    """shouldActivateFailCommandFailPoint: filters of failCommand."""
    if data.get("failAllCommands") is True:
        pass
    else:
        fc = data.get("failCommands")
        if not isinstance(fc, list) or not any(n in fc for n in cmd_names):
            return False
    if "appName" in data and data.get("appName") != app_name:
        return False
    if "namespace" in data and data.get("namespace") != ns:
        return False
    return True
