"""The Prometheus text format as /metrics serves it, parsed for the tests that read it."""

import re

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """The samples of one /metrics body: [(name, {label: value}, float)]."""

    def __init__(self, samples):
        self.samples = samples

    def find(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def get(self, name, **labels):
        """The one sample of `name` whose labels include `labels`; None if there is none."""
        found = self.find(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{name}{labels}: {len(found)} samples: {found}")
        return found[0][1] if found else None

    def value(self, name, **labels):
        v = self.get(name, **labels)
        if v is None:
            raise AssertionError(f"no sample {name}{labels}")
        return v


def parse_metrics(text):
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL.findall(m[2] or "")}
        samples.append((m[1], labels, float(m[3])))
    return Metrics(samples)
