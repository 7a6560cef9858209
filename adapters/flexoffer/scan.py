"""A compiled one-pass reader for plain ``{"flexOffer": [...]}`` envelopes, straight into arrays.

Why it exists: the 1,000-offer envelope benchmark of the foundation issue asks for
20,000 offers/s on two cores, i.e. well under 100 µs of server CPU per 9 kB offer. Any
reader that builds Python objects per slice (msgspec structs, dicts, floats: ~300 per
offer) spends about half of that before a single check has run. This reader walks the
bytes once in numba and writes every number where the ingest wants it: the per-slice
bounds and durations into flat arrays for the vectorised screen, and the number *texts*
into the stored document's profile, total and default-schedule parts, so the store
needs no float formatting either.

It reads a strict subset of JSON, the shape nearly every real submission has: one
profile of ``energyConstraintList`` pairs with optional ``minDuration``/``maxDuration``
(all slices or none), optional total energy and default schedule, the canonical string
fields, ``numSecondsPerInterval`` as an integer, and nothing else. Anything outside it
(an unknown or repeated key, ``null``, an escaped string, a number given as a string,
a mix of dialects, a partial duration column) answers "not plain" and the caller takes
the general codec, which accepts every shape and words every problem. It never decides
that an offer is bad; it only declines to decide.

Numbers: JSON's grammar is checked exactly. A number with at most 15-16 significant
digits and a small exponent is converted exactly here (Clinger's fast path: an integer
below 2**53 times or divided by an exact power of ten, one correctly rounded IEEE
operation). Longer ones (``1.7000000000000002``) are listed, and the caller converts
them with Python's own correctly rounded ``float``. Either way the value equals what
any correct JSON reader gives. The texts copied into the document are the client's own
decimal forms of the same values (negated for INEA by toggling the sign), so the
document reads back to the same offer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.flexoffer.kernels import jit_enabled

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None

# The string fields of an offer, in the order of their spans in ``ScanResult.spans``.
STRING_FIELDS = ("id", "state", "offeredById", "locationId", "zone", "creationTime", "acceptBeforeTime",
                 "assignmentBeforeTime", "startAfterTime", "startBeforeTime")
(ID, STATE, OFFERED_BY, LOCATION, ZONE, CREATION, ACCEPT_BEFORE, ASSIGNMENT_BEFORE, START_AFTER,
 START_BEFORE) = range(len(STRING_FIELDS))
_OFFER_KEYS = (*STRING_FIELDS, "numSecondsPerInterval", "flexOfferProfileConstraints", "totalEnergyConstraint",
               "defaultSchedule")
_K_INTERVAL, _K_SLICES, _K_TOTAL, _K_DEFAULT = range(len(STRING_FIELDS), len(_OFFER_KEYS))
_SLICE_KEYS = ("energyConstraintList", "minDuration", "maxDuration")
_SCHEDULE_KEYS = ("startTime", "energyAmounts")
_ENVELOPE_KEYS = ("flexOffer",)

# Per-offer integer columns of ``ScanResult.meta``.
(M_INTERVAL, M_HAS_INTERVAL, M_SLICE_START, M_SLICE_COUNT, M_HAS_MIN, M_HAS_MAX, M_HAS_TOTAL, M_HAS_DEFAULT,
 M_ENERGY_START, M_ENERGY_COUNT, M_PROFILE_START, M_PROFILE_END, M_TOTAL_START, M_TOTAL_END, M_DEFAULT_START,
 M_DEFAULT_END, M_DEFAULT_TIME_START, M_DEFAULT_TIME_END, M_LONGEST, M_MIN_DURATION, M_DURATIONS_ORDERED,
 _META_COLUMNS) = range(22)

# Where a long number's value goes, in ``ScanResult.slow``: (target, index, start, end).
SLOW_LOWER, SLOW_UPPER, SLOW_ENERGY, SLOW_TOTAL_LOWER, SLOW_TOTAL_UPPER = range(5)


def _key_table(keys: tuple[str, ...]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    width = max(len(k) for k in keys)
    table = np.zeros((len(keys), width), dtype=np.uint8)
    for row, key in enumerate(keys):
        table[row, :len(key)] = np.frombuffer(key.encode(), dtype=np.uint8)
    return table, np.array([len(k) for k in keys], dtype=np.int64)


def _text(value: str) -> NDArray[np.uint8]:
    return np.frombuffer(value.encode(), dtype=np.uint8).copy()


_OFFER_TABLE, _OFFER_LENGTHS = _key_table(_OFFER_KEYS)
_SLICE_TABLE, _SLICE_LENGTHS = _key_table(_SLICE_KEYS)
_SCHEDULE_TABLE, _SCHEDULE_LENGTHS = _key_table(_SCHEDULE_KEYS)
_ENVELOPE_TABLE, _ENVELOPE_LENGTHS = _key_table(_ENVELOPE_KEYS)
_AAU_TABLE, _AAU_LENGTHS = _key_table(("lower", "upper"))
_INEA_TABLE, _INEA_LENGTHS = _key_table(("lowerBound", "upperBound"))
_OPEN_LOWER = _text('{"energy_lower":[')
_OPEN_UPPER = _text('],"energy_upper":[')
_OPEN_MIN = _text('],"min_duration":[')
_OPEN_MAX = _text('],"max_duration":[')
_OPEN_TOTAL = _text('{"lower":')
_MID_TOTAL = _text(',"upper":')
_POW10 = np.array([10.0 ** k for k in range(23)])
_EXACT_MANTISSA = 2 ** 53
_MANTISSA_CAP = 10 ** 17  # keep accumulating below this; beyond it the number is "long"

# Negative status codes: why the bytes are not a plain envelope (useful when testing).
NOT_PLAIN = -1


def _scan(buf: Any, inea: bool, meta: Any, spans: Any, lower: Any, upper: Any, min_dur: Any, max_dur: Any,
          energy: Any, totals: Any, out: Any, slow: Any, tok: Any,
          offer_table: Any, offer_lengths: Any, slice_table: Any, slice_lengths: Any, schedule_table: Any,
          schedule_lengths: Any, envelope_table: Any, envelope_lengths: Any, bound_table: Any,
          bound_lengths: Any, open_lower: Any, open_upper: Any, open_min: Any, open_max: Any, open_total: Any,
          mid_total: Any, pow10: Any) -> tuple[int, int, int, int, int]:
    """Fill the arrays; return (offers, slices, energies, out bytes, slow numbers) or a status < 0.

    One loop nest over explicit positions; the helpers it calls are inlined when compiled.
    """
    fail = (NOT_PLAIN, 0, 0, 0, 0)
    n = buf.shape[0]
    n_offers = 0
    n_slices = 0
    n_energy = 0
    o = 0  # bytes written to ``out``
    n_slow = 0
    cap = lower.shape[0]

    # --- {"flexOffer": [
    i = _open(buf, 0, n, 123)
    if i < 0:
        return fail
    key, i, _ = _member(buf, i, n, envelope_table, envelope_lengths, 0)
    if key != 0:
        return fail
    i = _open(buf, i, n, 91)
    if i < 0:
        return fail
    more = 1
    while more:  # one offer
        if n_offers >= meta.shape[0]:
            return fail
        f = n_offers
        for c in range(meta.shape[1]):
            meta[f, c] = 0
        for c in range(spans.shape[1]):
            spans[f, c] = -1
        seen = 0
        first_slice = n_slices
        i = _open(buf, i, n, 123)
        if i < 0:
            return fail
        more_keys = 1
        while more_keys:  # one key: value of the offer
            key, i, seen = _member(buf, i, n, offer_table, offer_lengths, seen)
            if key < 0:
                return fail
            if key < _K_INTERVAL:  # a string field
                start, end = _string(buf, i, n)
                if start < 0:
                    return fail
                spans[f, 2 * key] = start
                spans[f, 2 * key + 1] = end
                i = end + 1
            elif key == _K_INTERVAL:
                ok, value, i = _integer(buf, i, n)
                if not ok:
                    return fail
                meta[f, M_INTERVAL] = value
                meta[f, M_HAS_INTERVAL] = 1
            elif key == _K_SLICES:
                i = _open(buf, i, n, 91)
                if i < 0:
                    return fail
                mins_given = 0
                maxs_given = 0
                more_slices = 1
                while more_slices:  # one slice
                    if n_slices >= cap:
                        return fail
                    q = n_slices
                    min_dur[q] = 1
                    max_dur[q] = -1
                    slice_seen = 0
                    i = _open(buf, i, n, 123)
                    if i < 0:
                        return fail
                    more_slice_keys = 1
                    while more_slice_keys:
                        skey, i, slice_seen = _member(buf, i, n, slice_table, slice_lengths, slice_seen)
                        if skey < 0:
                            return fail
                        if skey == 0:  # energyConstraintList: exactly one bounds object
                            i = _open(buf, i, n, 91)
                            if i < 0:
                                return fail
                            i, lo, hi, ls, le, us, ue, lo_exact, hi_exact = _bounds(
                                buf, i, n, inea, bound_table, bound_lengths, pow10)
                            if i < 0:
                                return fail
                            i = _open(buf, i, n, 93)
                            if i < 0:
                                return fail
                            lower[q] = lo
                            upper[q] = hi
                            tok[q - first_slice, 0] = ls
                            tok[q - first_slice, 1] = le
                            tok[q - first_slice, 2] = us
                            tok[q - first_slice, 3] = ue
                            if not lo_exact:
                                n_slow = _add_slow(slow, n_slow, SLOW_LOWER, q, ls, le)
                            if not hi_exact and n_slow >= 0:
                                n_slow = _add_slow(slow, n_slow, SLOW_UPPER, q, us, ue)
                            if n_slow < 0:
                                return fail
                        else:  # minDuration / maxDuration
                            ok, value, i = _integer(buf, i, n)
                            if not ok:
                                return fail
                            if skey == 1:
                                min_dur[q] = value
                                mins_given += 1
                            else:
                                max_dur[q] = value
                                maxs_given += 1
                        i, more_slice_keys = _next(buf, i, n, 125)
                        if i < 0:
                            return fail
                    if not slice_seen & 1:
                        return fail
                    n_slices += 1
                    i, more_slices = _next(buf, i, n, 93)
                    if i < 0:
                        return fail
                count = n_slices - first_slice
                # A duration column is given by every slice or by none (else: the full codec).
                if (mins_given != 0 and mins_given != count) or (maxs_given != 0 and maxs_given != count):
                    return fail
                meta[f, M_SLICE_START] = first_slice
                meta[f, M_SLICE_COUNT] = count
                meta[f, M_HAS_MIN] = 1 if mins_given else 0
                meta[f, M_HAS_MAX] = 1 if maxs_given else 0
                longest = 0
                smallest = 1 << 40
                ordered = 1
                for q in range(first_slice, n_slices):
                    if max_dur[q] < 0 and not maxs_given:
                        max_dur[q] = min_dur[q]  # the model's max_durations(): the minimum when absent
                    longest += max_dur[q]
                    if min_dur[q] < smallest:
                        smallest = min_dur[q]
                    if min_dur[q] > max_dur[q]:
                        ordered = 0
                meta[f, M_LONGEST] = longest
                meta[f, M_MIN_DURATION] = smallest
                meta[f, M_DURATIONS_ORDERED] = ordered
                # The stored profile: the columns of the native model, as the client's number texts.
                meta[f, M_PROFILE_START] = o
                for column in range(4):
                    if column == 0:
                        head = open_lower
                    elif column == 1:
                        head = open_upper
                    elif column == 2:
                        if not mins_given:
                            continue
                        head = open_min
                    else:
                        if not maxs_given:
                            continue
                        head = open_max
                    if o + head.shape[0] + 1 > out.shape[0]:
                        return fail
                    for k in range(head.shape[0]):
                        out[o + k] = head[k]
                    o += head.shape[0]
                    for q in range(first_slice, n_slices):
                        if q > first_slice:
                            out[o] = 44
                            o += 1
                        if column >= 2:
                            value = min_dur[q] if column == 2 else max_dur[q]
                            if value < 0:
                                out[o] = 45
                                o += 1
                                value = -value
                            digits = 1
                            probe = value
                            while probe >= 10:
                                probe //= 10
                                digits += 1
                            if o + digits + 32 > out.shape[0]:
                                return fail
                            for k in range(digits):
                                out[o + digits - 1 - k] = 48 + value % 10
                                value //= 10
                            o += digits
                            continue
                        ts = tok[q - first_slice, 0 if column == 0 else 2]
                        te = tok[q - first_slice, 1 if column == 0 else 3]
                        if o + (te - ts) + 32 > out.shape[0]:
                            return fail
                        o = _copy_number(buf, ts, te, inea, out, o)
                out[o] = 93
                out[o + 1] = 125
                o += 2
                meta[f, M_PROFILE_END] = o
            elif key == _K_TOTAL:
                i, lo, hi, ls, le, us, ue, lo_exact, hi_exact = _bounds(
                    buf, i, n, inea, bound_table, bound_lengths, pow10)
                if i < 0:
                    return fail
                totals[f, 0] = lo
                totals[f, 1] = hi
                if not lo_exact:
                    n_slow = _add_slow(slow, n_slow, SLOW_TOTAL_LOWER, f, ls, le)
                if not hi_exact and n_slow >= 0:
                    n_slow = _add_slow(slow, n_slow, SLOW_TOTAL_UPPER, f, us, ue)
                if n_slow < 0 or o + (le - ls) + (ue - us) + 64 > out.shape[0]:
                    return fail
                meta[f, M_HAS_TOTAL] = 1
                meta[f, M_TOTAL_START] = o
                for k in range(open_total.shape[0]):
                    out[o + k] = open_total[k]
                o = _copy_number(buf, ls, le, inea, out, o + open_total.shape[0])
                for k in range(mid_total.shape[0]):
                    out[o + k] = mid_total[k]
                o = _copy_number(buf, us, ue, inea, out, o + mid_total.shape[0])
                out[o] = 125
                o += 1
                meta[f, M_TOTAL_END] = o
            else:  # defaultSchedule: {startTime, energyAmounts}
                i = _open(buf, i, n, 123)
                if i < 0:
                    return fail
                schedule_seen = 0
                more_schedule = 1
                while more_schedule:
                    dkey, i, schedule_seen = _member(buf, i, n, schedule_table, schedule_lengths, schedule_seen)
                    if dkey < 0:
                        return fail
                    if dkey == 0:  # startTime
                        start, end = _string(buf, i, n)
                        if start < 0:
                            return fail
                        meta[f, M_DEFAULT_TIME_START] = start
                        meta[f, M_DEFAULT_TIME_END] = end
                        i = end + 1
                    else:  # energyAmounts: [numbers], copied to the document as they come
                        i = _open(buf, i, n, 91)
                        if i < 0 or o + 2 > out.shape[0]:
                            return fail
                        first_energy = n_energy
                        meta[f, M_ENERGY_START] = first_energy
                        meta[f, M_DEFAULT_START] = o
                        out[o] = 91
                        o += 1
                        i = _ws(buf, i, n)
                        more_energy = 1
                        if i < n and buf[i] == 93:
                            i += 1
                            more_energy = 0
                        while more_energy:
                            i = _ws(buf, i, n)
                            start = i
                            status, i, number, exact = _number(buf, i, n, pow10)
                            if status < 0 or n_energy >= energy.shape[0] or o + (i - start) + 32 > out.shape[0]:
                                return fail
                            energy[n_energy] = -number if inea else number
                            if not exact:
                                n_slow = _add_slow(slow, n_slow, SLOW_ENERGY, n_energy, start, i)
                                if n_slow < 0:
                                    return fail
                            if n_energy > first_energy:
                                out[o] = 44
                                o += 1
                            n_energy += 1
                            o = _copy_number(buf, start, i, inea, out, o)
                            i, more_energy = _next(buf, i, n, 93)
                            if i < 0:
                                return fail
                        out[o] = 93
                        o += 1
                        meta[f, M_DEFAULT_END] = o
                        meta[f, M_ENERGY_COUNT] = n_energy - first_energy
                    i, more_schedule = _next(buf, i, n, 125)
                    if i < 0:
                        return fail
                if schedule_seen != 3:
                    return fail
                meta[f, M_HAS_DEFAULT] = 1
            i, more_keys = _next(buf, i, n, 125)
            if i < 0:
                return fail
        # Required: the profile and the start.
        if not (seen >> _K_SLICES) & 1 or not (seen >> START_AFTER) & 1:
            return fail
        n_offers += 1
        i, more = _next(buf, i, n, 93)
        if i < 0:
            return fail
    i = _open(buf, i, n, 125)
    if i < 0 or _ws(buf, i, n) != n:
        return fail
    return n_offers, n_slices, n_energy, o, n_slow


def _ws(buf: Any, i: int, n: int) -> int:
    """The first position from ``i`` on that is not JSON whitespace."""
    while i < n and buf[i] <= 32 and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


def _open(buf: Any, i: int, n: int, byte: int) -> int:
    """Whitespace, then ``byte``: the position after it, or -1."""
    i = _ws(buf, i, n)
    if i >= n or buf[i] != byte:
        return -1
    return i + 1


def _next(buf: Any, i: int, n: int, closing: int) -> tuple[int, int]:
    """After an item: (position, 1) past a ``,``, (position, 0) past ``closing``, else (-1, 0)."""
    i = _ws(buf, i, n)
    if i < n:
        if buf[i] == 44:
            return i + 1, 1
        if buf[i] == closing:
            return i + 1, 0
    return -1, 0


def _member(buf: Any, i: int, n: int, table: Any, lengths: Any, seen: int) -> tuple[int, int, int]:
    """Whitespace, a key of ``table`` not yet in the bit set ``seen``, ``:``: (key, position
    of its value, ``seen`` with the key); key -1 when not plain (unknown or repeated key)."""
    i = _ws(buf, i, n)
    if i >= n or buf[i] != 34:
        return -1, i, seen
    key, i = _key(buf, i, n, table, lengths)
    if key < 0 or (seen >> key) & 1:
        return -1, i, seen
    i = _ws(buf, i, n)
    if i >= n or buf[i] != 58:
        return -1, i, seen
    return key, _ws(buf, i + 1, n), seen | (1 << key)


def _string(buf: Any, i: int, n: int) -> tuple[int, int]:
    """The text span (start, end) of the string at ``i``; start -1 when it is not one or has
    an escape or a control character (not plain)."""
    if i >= n or buf[i] != 34:
        return -1, i
    start = i + 1
    i = start
    while i < n and buf[i] != 34 and buf[i] != 92 and buf[i] >= 32:
        i += 1
    if i >= n or buf[i] != 34:
        return -1, i
    return start, i


def _integer(buf: Any, i: int, n: int) -> tuple[bool, int, int]:
    """A JSON integer at ``i``: (is one, value, end). A fraction or an exponent is not plain."""
    negative = False
    if i < n and buf[i] == 45:
        negative = True
        i += 1
    start = i
    value = 0
    while i < n and 48 <= buf[i] <= 57:
        value = value * 10 + (buf[i] - 48)
        i += 1
        if value > 10 ** 12:
            return False, 0, i
    if i == start or (buf[start] == 48 and i - start > 1):
        return False, 0, i
    if i < n and (buf[i] == 46 or buf[i] == 101 or buf[i] == 69):
        return False, 0, i
    return True, -value if negative else value, i


def _bounds(buf: Any, i: int, n: int, inea: bool, table: Any, lengths: Any,
            pow10: Any) -> tuple[int, float, float, int, int, int, int, bool, bool]:
    """A bounds object at ``i``, in the load convention (INEA's [lowerBound, upperBound] is
    [-upperBound, -lowerBound] of load): (end or -1, lower, upper, the lower's text start
    and end, the upper's, whether each value is exact)."""
    lo = 0.0
    hi = 0.0
    ls = 0
    le = 0
    us = 0
    ue = 0
    lo_exact = True
    hi_exact = True
    i = _open(buf, i, n, 123)
    if i < 0:
        return -1, lo, hi, ls, le, us, ue, lo_exact, hi_exact
    seen = 0
    more = 1
    while more:
        key, i, seen = _member(buf, i, n, table, lengths, seen)
        if key < 0:
            return -1, lo, hi, ls, le, us, ue, lo_exact, hi_exact
        start = i
        status, i, number, exact = _number(buf, i, n, pow10)
        if status < 0:
            return -1, lo, hi, ls, le, us, ue, lo_exact, hi_exact
        if inea:
            number = -number
        if key == (1 if inea else 0):
            lo, ls, le, lo_exact = number, start, i, exact
        else:
            hi, us, ue, hi_exact = number, start, i, exact
        i, more = _next(buf, i, n, 125)
        if i < 0:
            return -1, lo, hi, ls, le, us, ue, lo_exact, hi_exact
    if seen != 3:
        return -1, lo, hi, ls, le, us, ue, lo_exact, hi_exact
    return i, lo, hi, ls, le, us, ue, lo_exact, hi_exact


def _add_slow(slow: Any, n_slow: int, target: int, index: int, start: int, end: int) -> int:
    """List a long number for Python to convert; the new count, or -1 when the list is full."""
    if n_slow >= slow.shape[0]:
        return -1
    slow[n_slow, 0] = target
    slow[n_slow, 1] = index
    slow[n_slow, 2] = start
    slow[n_slow, 3] = end
    return n_slow + 1


def _key(buf: Any, i: int, n: int, table: Any, lengths: Any) -> tuple[int, int]:
    """The key whose quoted text starts at ``i`` (at its ``"``), and the position after its
    closing quote; -1 when it is none of ``table``'s (escaped keys included: not plain).

    Each candidate is compared in place, so no separate pass finds the key's end first.
    """
    for kk in range(lengths.shape[0]):
        length = lengths[kk]
        end = i + 1 + length
        if end < n and buf[end] == 34:
            same = True
            for k in range(length):
                if buf[i + 1 + k] != table[kk, k]:
                    same = False
                    break
            if same:
                return kk, end + 1
    return -1, i


def _copy_number(buf: Any, start: int, end: int, negate: bool, out: Any, o: int) -> int:
    """Write the number text ``buf[start:end]`` (negated if asked) to ``out`` at ``o``; return the end.

    Negation toggles the sign, which is exact. An integer text gets ``.0``, so that the
    document reads back to the same float: a JSON reader takes ``-0`` as the integer 0,
    which would lose the sign of a negated ``0`` (``-0.0``).
    The caller leaves 32 bytes of room beyond the text.
    """
    if (end - start == 1 and buf[start] == 48) or (end - start == 2 and buf[start] == 45 and buf[start + 1] == 48):
        # The integer 0 (or -0) is the float 0.0 before any negation, as the codec reads it.
        if negate:
            out[o] = 45
            o += 1
        out[o] = 48
        out[o + 1] = 46
        out[o + 2] = 48
        return o + 3
    if negate:
        if buf[start] == 45:
            start += 1
        else:
            out[o] = 45
            o += 1
    integral = True
    for k in range(end - start):
        byte = buf[start + k]
        out[o + k] = byte
        if byte == 46 or byte == 101 or byte == 69:
            integral = False
    o += end - start
    if integral:
        out[o] = 46
        out[o + 1] = 48
        o += 2
    return o


def _number(buf: Any, i: int, n: int, pow10: Any) -> tuple[int, int, float, bool]:
    """One JSON number at ``i``: (status, end, value, exact). Not exact: convert the text in Python.

    Status: -1 not a JSON number (or near the double range), 0 a float text, 1 an integer
    text (which JSON readers take as an int: ``-0`` is 0, so 0.0, not -0.0).

    The grammar is JSON's: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?``.
    """
    negative = False
    if i < n and buf[i] == 45:
        negative = True
        i += 1
    if i >= n:
        return -1, i, 0.0, False
    mantissa = 0
    digits_dropped = False
    scale = 0  # the value is mantissa * 10**scale
    if buf[i] == 48:
        i += 1
        if i < n and 48 <= buf[i] <= 57:
            return -1, i, 0.0, False
    elif 49 <= buf[i] <= 57:
        while i < n and 48 <= buf[i] <= 57:
            if mantissa < _MANTISSA_CAP:
                mantissa = mantissa * 10 + (buf[i] - 48)
            else:
                digits_dropped = True
                scale += 1
            i += 1
    else:
        return -1, i, 0.0, False
    integral = 1
    if i < n and buf[i] == 46:
        integral = 0
        i += 1
        if i >= n or not 48 <= buf[i] <= 57:
            return -1, i, 0.0, False
        while i < n and 48 <= buf[i] <= 57:
            if mantissa < _MANTISSA_CAP:
                mantissa = mantissa * 10 + (buf[i] - 48)
                scale -= 1
            else:
                digits_dropped = True
            i += 1
    if i < n and (buf[i] == 101 or buf[i] == 69):
        integral = 0
        i += 1
        exp_negative = False
        if i < n and (buf[i] == 43 or buf[i] == 45):
            exp_negative = buf[i] == 45
            i += 1
        if i >= n or not 48 <= buf[i] <= 57:
            return -1, i, 0.0, False
        exponent = 0
        while i < n and 48 <= buf[i] <= 57:
            if exponent < 100000:
                exponent = exponent * 10 + (buf[i] - 48)
            i += 1
        scale += -exponent if exp_negative else exponent
    if scale > 300 or scale < -300:  # near or past the double range: left to the general codec
        return -1, i, 0.0, False
    if integral and mantissa == 0:
        negative = False  # JSON readers take -0 as the integer 0, i.e. 0.0
    if digits_dropped or mantissa > _EXACT_MANTISSA or scale > 22 or scale < -22:
        return integral, i, 0.0, False
    value = float(mantissa)
    if scale >= 0:
        value = value * pow10[scale]
    else:
        value = value / pow10[-scale]
    return integral, i, -value if negative else value, True


if numba is not None:
    # Compiled on first use (~20 s), then loaded from numba's disk cache. The reader calls
    # its helpers by their global names, so those are rebound first.
    # ``_nrt=False`` (numba's switch for its reference-counting runtime): every helper call
    # and array alias otherwise increments and decrements the arrays' reference counts
    # atomically, which made a number cost ~25 ns instead of ~6 ns (measured). Nothing in
    # these functions allocates, so nothing needs the runtime.
    _OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
    _number = numba.njit(inline="always", **_OPTIONS)(_number)
    _copy_number = numba.njit(inline="always", **_OPTIONS)(_copy_number)
    _key = numba.njit(inline="always", **_OPTIONS)(_key)
    _ws = numba.njit(inline="always", **_OPTIONS)(_ws)
    _open = numba.njit(inline="always", **_OPTIONS)(_open)
    _next = numba.njit(inline="always", **_OPTIONS)(_next)
    _member = numba.njit(inline="always", **_OPTIONS)(_member)
    _string = numba.njit(inline="always", **_OPTIONS)(_string)
    _integer = numba.njit(inline="always", **_OPTIONS)(_integer)
    _bounds = numba.njit(inline="always", **_OPTIONS)(_bounds)
    _add_slow = numba.njit(inline="always", **_OPTIONS)(_add_slow)
    _scan = numba.njit(**_OPTIONS)(_scan)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything the lean ingest needs of a plain envelope, as arrays (load convention)."""

    body: bytes
    count: int
    meta: NDArray[np.int64]  # [offer, M_*]
    spans: NDArray[np.int64]  # [offer, 2 * field]: start, end of each string field; -1 if absent
    lower: NDArray[np.float64]  # per slice, all offers back to back
    upper: NDArray[np.float64]
    min_duration: NDArray[np.int64]
    max_duration: NDArray[np.int64]
    energy: NDArray[np.float64]  # default-schedule energies, all offers back to back
    totals: NDArray[np.float64]  # [offer, (lower, upper)]
    out: str  # the stored documents' profile, total and default-energy parts (ASCII)

    def text(self, offer: int, field: int) -> str | None:
        start = int(self.spans[offer, 2 * field])
        return None if start < 0 else self.body[start:int(self.spans[offer, 2 * field + 1])].decode()

    def part(self, offer: int, start_column: int) -> str:
        return self.out[int(self.meta[offer, start_column]):int(self.meta[offer, start_column + 1])]


def available() -> bool:
    return numba is not None and jit_enabled()


class _Scratch(threading.local):
    """The reader's output arrays, kept per thread and reused from one envelope to the next.

    Fresh arrays for a 9 MB envelope meant ~2,000 page faults per request (numpy hands
    big blocks straight to mmap and back), as much time as a third of the reading.
    """

    def __init__(self) -> None:
        self.size = -1

    def fit(self, size: int) -> None:
        if size <= self.size:
            return
        size = max(size, 1 << 16) * 5 // 4  # headroom, so a slightly bigger body reuses them too
        offers, slices, numbers = size // 40 + 1, size // 30 + 1, size // 2 + 1
        self.meta = np.empty((offers, _META_COLUMNS), dtype=np.int64)
        self.spans = np.empty((offers, 2 * len(STRING_FIELDS)), dtype=np.int64)
        self.lower, self.upper = np.empty(slices), np.empty(slices)
        self.min_duration = np.empty(slices, dtype=np.int64)
        self.max_duration = np.empty(slices, dtype=np.int64)
        self.tokens = np.empty((slices, 4), dtype=np.int64)
        self.energy = np.empty(numbers)
        self.totals = np.empty((offers, 2))
        self.out = np.empty(2 * size + 64, dtype=np.uint8)
        self.slow = np.empty((size // 16 + 1, 4), dtype=np.int64)  # a long number has 17+ characters
        self.size = size


_scratch = _Scratch()


def scan_envelope(body: bytes) -> ScanResult | None:
    """The arrays of a plain envelope; None when the body is anything else (see the module doc).

    The result's arrays are this thread's scratch space: valid until the thread's next call.
    """
    if not available() or len(body) < 2:
        return None
    inea = b'"lowerBound"' in body  # the dialect, picked as the general codec's typed reader does
    buf = np.frombuffer(body, dtype=np.uint8)
    space = _scratch
    space.fit(len(body))
    meta, spans, totals = space.meta, space.spans, space.totals
    lower, upper, energy = space.lower, space.upper, space.energy
    bound_table, bound_lengths = (_INEA_TABLE, _INEA_LENGTHS) if inea else (_AAU_TABLE, _AAU_LENGTHS)
    count, n_slices, n_energy, written, n_slow = _scan(
        buf, inea, meta, spans, lower, upper, space.min_duration, space.max_duration, energy, totals, space.out,
        space.slow, space.tokens, _OFFER_TABLE, _OFFER_LENGTHS, _SLICE_TABLE, _SLICE_LENGTHS, _SCHEDULE_TABLE,
        _SCHEDULE_LENGTHS, _ENVELOPE_TABLE, _ENVELOPE_LENGTHS, bound_table, bound_lengths, _OPEN_LOWER,
        _OPEN_UPPER, _OPEN_MIN, _OPEN_MAX, _OPEN_TOTAL, _MID_TOTAL, _POW10)
    if count <= 0:
        return None
    targets = (lower, upper, energy, totals[:, 0], totals[:, 1])
    sign = -1.0 if inea else 1.0
    for target, index, start, end in space.slow[:n_slow].tolist():
        value = float(body[start:end])  # Python's correctly rounded reading of the long number
        if value in (float("inf"), float("-inf")):
            return None  # out of range: the general codec words it
        targets[target][index] = sign * value
    return ScanResult(body, count, meta[:count], spans[:count], lower[:n_slices], upper[:n_slices],
                      space.min_duration[:n_slices], space.max_duration[:n_slices], energy[:n_energy],
                      totals[:count], str(space.out[:written].data, "ascii"))


def warm_up() -> None:
    """Compile the reader, or load it from numba's disk cache, before the first envelope arrives.

    Loading takes ~0.5 s per process, compiling (first run after an install) ~30 s.
    """
    scan_envelope(b'{"flexOffer":[{"startAfterTime":"2030-01-01T00:00:00Z",'
                  b'"flexOfferProfileConstraints":[{"energyConstraintList":[{"lower":0,"upper":1.5}]}]}]}')
