"""Rate profiles of the open loop: constant, step and ramp, and the send times they give.

A profile is a piecewise-linear rate over the measured window (its last piece holds
beyond its end). Send times come from the cumulative rate ``Λ(t)`` (the expected number
of requests by ``t``): the k-th request of a constant schedule leaves where
``Λ(t) = phase + k``, a Poisson schedule where ``Λ(t)`` reaches a running sum of
Exp(1) draws (a non-homogeneous Poisson process, by time rescaling). Within a linear
piece ``Λ`` is quadratic, so each time is solved exactly, not stepped.

CLI syntax (``--profile``)::

    const:RATE                     RATE requests/s throughout
    step:START:END:STEP:EVERY      START for EVERY, then +STEP every EVERY up to END, held
    ramp:START:END[:OVER]          linear from START to END over OVER (default: the whole
                                   measured window), then held

Durations are seconds, or take a unit: ``500ms``, ``10s``, ``2m``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """Rate going linearly from ``r0`` to ``r1`` over ``[start_s, end_s)``."""

    start_s: float
    end_s: float
    r0: float
    r1: float

    def mass(self) -> float:
        """Expected requests in the piece."""
        return (self.r0 + self.r1) / 2.0 * (self.end_s - self.start_s)

    def time_of(self, m: float) -> float:
        """The instant at which ``m`` (0 <= m <= mass) requests have been due."""
        length = self.end_s - self.start_s
        a = (self.r1 - self.r0) / (2.0 * length)
        if abs(a) < 1e-12:
            return self.start_s + m / self.r0
        disc = max(0.0, self.r0 * self.r0 + 4.0 * a * m)
        return self.start_s + (math.sqrt(disc) - self.r0) / (2.0 * a)


@dataclass(frozen=True)
class Profile:
    """A rate over the measured window; ``text`` is how it was written."""

    pieces: tuple[Piece, ...]
    text: str = ""

    @classmethod
    def constant(cls, rate: float) -> Profile:
        return cls((Piece(0.0, 1.0, rate, rate),), f"const:{rate:g}")

    def rate_at(self, t: float) -> float:
        """The requested rate ``t`` seconds into the measured window."""
        if t < self.pieces[0].start_s:
            return self.pieces[0].r0
        for p in self.pieces:
            if t < p.end_s:
                return p.r0 + (p.r1 - p.r0) * (t - p.start_s) / (p.end_s - p.start_s)
        return self.pieces[-1].r1

    def peak(self) -> float:
        return max(max(p.r0, p.r1) for p in self.pieces)

    def scaled(self, factor: float) -> Profile:
        """This profile with every rate times ``factor`` (one process's share)."""
        pieces = tuple(Piece(p.start_s, p.end_s, p.r0 * factor, p.r1 * factor) for p in self.pieces)
        return Profile(pieces, self.text)

    def _timeline(self, warmup_s: float, span_s: float) -> list[Piece]:
        """Pieces over ``[0, span_s)`` of the run: warm-up at the starting rate, then the
        profile shifted by ``warmup_s``, its last rate held up to ``span_s``."""
        out = [Piece(0.0, warmup_s, self.pieces[0].r0, self.pieces[0].r0)] if warmup_s else []
        out += [Piece(p.start_s + warmup_s, p.end_s + warmup_s, p.r0, p.r1) for p in self.pieces]
        last = out[-1]
        out.append(Piece(last.end_s, max(span_s, last.end_s) + 1.0, last.r1, last.r1))
        return [p for p in out if p.end_s > p.start_s and p.start_s < span_s]

    def offsets(
        self,
        span_s: float,
        arrival: str,
        rng: random.Random,
        warmup_s: float = 0.0,
        phase: float = 0.0,
    ) -> list[float]:
        """Send offsets in seconds from the run's start (warm-up included), below
        ``span_s``; ``phase`` (0..1, in requests) shifts a constant schedule."""
        if arrival not in ("constant", "poisson"):
            raise ValueError(f"arrival must be constant or poisson, got {arrival!r}")
        out: list[float] = []
        target = phase if arrival == "constant" else rng.expovariate(1.0)
        done = 0.0  # mass of the pieces already walked
        for piece in self._timeline(warmup_s, span_s):
            mass = piece.mass()
            while target <= done + mass and mass > 0:
                t = piece.time_of(target - done)
                if t >= span_s:
                    return out
                out.append(t)
                target += 1.0 if arrival == "constant" else rng.expovariate(1.0)
            done += mass
        return out


def parse_duration(text: str) -> float:
    """``10s``, ``500ms``, ``2m`` or plain seconds, as seconds (> 0)."""
    units = (("ms", 1e-3), ("s", 1.0), ("m", 60.0))
    for suffix, factor in units:
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            value = float(text[: -len(suffix)]) * factor
            break
    else:
        value = float(text)
    if not value > 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return value


def parse_profile(text: str, duration_s: float) -> Profile:
    """A profile from its CLI form (module docstring); ValueError if malformed."""
    kind, *args = text.split(":")
    try:
        if kind == "const" and len(args) == 1:
            profile = Profile.constant(float(args[0]))
        elif kind == "step" and len(args) == 4:
            profile = _step(float(args[0]), float(args[1]), float(args[2]), parse_duration(args[3]))
        elif kind == "ramp" and len(args) in (2, 3):
            over = parse_duration(args[2]) if len(args) == 3 else duration_s
            profile = Profile((Piece(0.0, over, float(args[0]), float(args[1])),))
        else:
            raise ValueError("unknown form")
    except ValueError as exc:
        raise ValueError(
            f"--profile {text!r}: expected const:RATE, step:START:END:STEP:EVERY or "
            f"ramp:START:END[:OVER] ({exc})"
        ) from None
    if min(min(p.r0, p.r1) for p in profile.pieces) < 0 or profile.peak() <= 0:
        raise ValueError(f"--profile {text!r}: rates must be >= 0 and not all 0")
    return Profile(profile.pieces, text)


def _step(start: float, end: float, step: float, every: float) -> Profile:
    if step <= 0:
        raise ValueError("STEP must be positive (the sign follows START -> END)")
    sign = 1.0 if end >= start else -1.0
    levels = int(abs(end - start) // step + 1e-9)
    rates = [start + sign * step * k for k in range(levels + 1)]
    if rates[-1] != end:
        rates.append(end)
    pieces = tuple(Piece(k * every, (k + 1) * every, r, r) for k, r in enumerate(rates))
    return Profile(pieces)
