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

    Written as one flat function with explicit positions because numba compiles it to a
    single loop nest; every helper it would call is inlined by hand for the same reason.
    """
    n = buf.shape[0]
    i = 0
    n_offers = 0
    n_slices = 0
    n_energy = 0
    o = 0  # bytes written to ``out``
    n_slow = 0
    # Per-slice token spans of the current offer, for writing the profile columns after it.
    cap = lower.shape[0]

    # --- {"flexOffer": [
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i >= n or buf[i] != 123:  # {
        return NOT_PLAIN, 0, 0, 0, 0
    i += 1
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i >= n or buf[i] != 34:  # "
        return NOT_PLAIN, 0, 0, 0, 0
    s = i + 1
    i = s
    while i < n and buf[i] != 34 and buf[i] != 92 and buf[i] >= 32:
        i += 1
    if i >= n or buf[i] != 34 or i - s != envelope_lengths[0]:
        return NOT_PLAIN, 0, 0, 0, 0
    for k in range(i - s):
        if buf[s + k] != envelope_table[0, k]:
            return NOT_PLAIN, 0, 0, 0, 0
    i += 1
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i >= n or buf[i] != 58:  # :
        return NOT_PLAIN, 0, 0, 0, 0
    i += 1
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i >= n or buf[i] != 91:  # [
        return NOT_PLAIN, 0, 0, 0, 0
    i += 1
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i < n and buf[i] == 93:  # an empty list is not for the lean path
        return NOT_PLAIN, 0, 0, 0, 0

    # --- offers
    while True:
        if n_offers >= meta.shape[0]:
            return NOT_PLAIN, 0, 0, 0, 0
        f = n_offers
        for c in range(meta.shape[1]):
            meta[f, c] = 0
        for c in range(spans.shape[1]):
            spans[f, c] = -1
        seen = 0
        first_slice = n_slices
        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
            i += 1
        if i >= n or buf[i] != 123:
            return NOT_PLAIN, 0, 0, 0, 0
        i += 1
        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
            i += 1
        if i < n and buf[i] == 125:  # {} has no profile
            return NOT_PLAIN, 0, 0, 0, 0
        while True:  # one key: value of the offer
            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                i += 1
            if i >= n or buf[i] != 34:
                return NOT_PLAIN, 0, 0, 0, 0
            key, i = _key(buf, i, n, offer_table, offer_lengths)
            if key < 0 or (seen >> key) & 1:
                return NOT_PLAIN, 0, 0, 0, 0
            seen |= 1 << key
            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                i += 1
            if i >= n or buf[i] != 58:
                return NOT_PLAIN, 0, 0, 0, 0
            i += 1
            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                i += 1
            if i >= n:
                return NOT_PLAIN, 0, 0, 0, 0
            if key < 10:  # a string field
                if buf[i] != 34:
                    return NOT_PLAIN, 0, 0, 0, 0
                s = i + 1
                i = s
                while i < n and buf[i] != 34 and buf[i] != 92 and buf[i] >= 32:
                    i += 1
                if i >= n or buf[i] != 34:
                    return NOT_PLAIN, 0, 0, 0, 0
                spans[f, 2 * key] = s
                spans[f, 2 * key + 1] = i
                i += 1
            elif key == 10:  # numSecondsPerInterval: an integer
                negative = False
                if buf[i] == 45:
                    negative = True
                    i += 1
                s = i
                value = 0
                while i < n and 48 <= buf[i] <= 57:
                    value = value * 10 + (buf[i] - 48)
                    i += 1
                    if value > 10 ** 12:
                        return NOT_PLAIN, 0, 0, 0, 0
                if i == s or (buf[s] == 48 and i - s > 1):
                    return NOT_PLAIN, 0, 0, 0, 0
                if i < n and (buf[i] == 46 or buf[i] == 101 or buf[i] == 69):
                    return NOT_PLAIN, 0, 0, 0, 0
                meta[f, M_INTERVAL] = -value if negative else value
                meta[f, M_HAS_INTERVAL] = 1
            elif key == 11 or key == 12 or key == 13:
                # Slices, total and default schedule: objects holding numbers. Each number
                # is parsed by the same inline block below, driven by a small state machine.
                if key == 11:
                    if buf[i] != 91:
                        return NOT_PLAIN, 0, 0, 0, 0
                    i += 1
                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                        i += 1
                    if i < n and buf[i] == 93:
                        return NOT_PLAIN, 0, 0, 0, 0
                    mins_given = 0
                    maxs_given = 0
                    while True:  # one slice
                        if n_slices >= cap:
                            return NOT_PLAIN, 0, 0, 0, 0
                        q = n_slices
                        min_dur[q] = 1
                        max_dur[q] = -1
                        slice_seen = 0
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n or buf[i] != 123:
                            return NOT_PLAIN, 0, 0, 0, 0
                        i += 1
                        while True:  # one key of the slice
                            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                i += 1
                            if i >= n or buf[i] != 34:
                                return NOT_PLAIN, 0, 0, 0, 0
                            skey, i = _key(buf, i, n, slice_table, slice_lengths)
                            if skey < 0 or (slice_seen >> skey) & 1:
                                return NOT_PLAIN, 0, 0, 0, 0
                            slice_seen |= 1 << skey
                            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                i += 1
                            if i >= n or buf[i] != 58:
                                return NOT_PLAIN, 0, 0, 0, 0
                            i += 1
                            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                i += 1
                            if i >= n:
                                return NOT_PLAIN, 0, 0, 0, 0
                            if skey == 1 or skey == 2:  # minDuration / maxDuration: integers
                                negative = False
                                if buf[i] == 45:
                                    negative = True
                                    i += 1
                                s = i
                                value = 0
                                while i < n and 48 <= buf[i] <= 57:
                                    value = value * 10 + (buf[i] - 48)
                                    i += 1
                                    if value > 10 ** 12:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                if i == s or (buf[s] == 48 and i - s > 1):
                                    return NOT_PLAIN, 0, 0, 0, 0
                                if i < n and (buf[i] == 46 or buf[i] == 101 or buf[i] == 69):
                                    return NOT_PLAIN, 0, 0, 0, 0
                                if negative:
                                    value = -value
                                if skey == 1:
                                    min_dur[q] = value
                                    mins_given += 1
                                else:
                                    max_dur[q] = value
                                    maxs_given += 1
                            else:  # energyConstraintList: [ {lower, upper} ]
                                if buf[i] != 91:
                                    return NOT_PLAIN, 0, 0, 0, 0
                                i += 1
                                while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                    i += 1
                                if i >= n or buf[i] != 123:
                                    return NOT_PLAIN, 0, 0, 0, 0
                                i += 1
                                bound_seen = 0
                                while True:  # one key of the bounds
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    if i >= n or buf[i] != 34:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    bkey, i = _key(buf, i, n, bound_table, bound_lengths)
                                    if bkey < 0 or (bound_seen >> bkey) & 1:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    bound_seen |= 1 << bkey
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    if i >= n or buf[i] != 58:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    i += 1
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    # -- number
                                    s = i
                                    status, i, number, exact = _number(buf, i, n, pow10)
                                    if status < 0:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    # AAU: lower -> lower; INEA: upperBound -> -lower.
                                    to_lower = bkey == (1 if inea else 0)
                                    if inea:
                                        number = -number
                                    if to_lower:
                                        lower[q] = number
                                        tok[q - first_slice, 0] = s
                                        tok[q - first_slice, 1] = i
                                    else:
                                        upper[q] = number
                                        tok[q - first_slice, 2] = s
                                        tok[q - first_slice, 3] = i
                                    if not exact:
                                        if n_slow >= slow.shape[0]:
                                            return NOT_PLAIN, 0, 0, 0, 0
                                        slow[n_slow, 0] = SLOW_LOWER if to_lower else SLOW_UPPER
                                        slow[n_slow, 1] = q
                                        slow[n_slow, 2] = s
                                        slow[n_slow, 3] = i
                                        n_slow += 1
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    if i < n and buf[i] == 44:
                                        i += 1
                                        continue
                                    if i < n and buf[i] == 125:
                                        i += 1
                                        break
                                    return NOT_PLAIN, 0, 0, 0, 0
                                if bound_seen != 3:
                                    return NOT_PLAIN, 0, 0, 0, 0
                                while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                    i += 1
                                if i >= n or buf[i] != 93:  # exactly one bounds object
                                    return NOT_PLAIN, 0, 0, 0, 0
                                i += 1
                            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                i += 1
                            if i < n and buf[i] == 44:
                                i += 1
                                continue
                            if i < n and buf[i] == 125:
                                i += 1
                                break
                            return NOT_PLAIN, 0, 0, 0, 0
                        if not slice_seen & 1:
                            return NOT_PLAIN, 0, 0, 0, 0
                        n_slices += 1
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i < n and buf[i] == 44:
                            i += 1
                            continue
                        if i < n and buf[i] == 93:
                            i += 1
                            break
                        return NOT_PLAIN, 0, 0, 0, 0
                    count = n_slices - first_slice
                    # A duration column is given by every slice or by none (else: the full codec).
                    if (mins_given != 0 and mins_given != count) or (maxs_given != 0 and maxs_given != count):
                        return NOT_PLAIN, 0, 0, 0, 0
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
                            return NOT_PLAIN, 0, 0, 0, 0
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
                                    return NOT_PLAIN, 0, 0, 0, 0
                                for k in range(digits):
                                    out[o + digits - 1 - k] = 48 + value % 10
                                    value //= 10
                                o += digits
                                continue
                            ts = tok[q - first_slice, 0 if column == 0 else 2]
                            te = tok[q - first_slice, 1 if column == 0 else 3]
                            if o + (te - ts) + 32 > out.shape[0]:
                                return NOT_PLAIN, 0, 0, 0, 0
                            o = _copy_number(buf, ts, te, inea, out, o)
                    out[o] = 93
                    out[o + 1] = 125
                    o += 2
                    meta[f, M_PROFILE_END] = o
                elif key == 12:  # totalEnergyConstraint: {lower, upper}
                    if buf[i] != 123:
                        return NOT_PLAIN, 0, 0, 0, 0
                    i += 1
                    bound_seen = 0
                    t0 = 0
                    t1 = 0
                    t2 = 0
                    t3 = 0
                    while True:
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n or buf[i] != 34:
                            return NOT_PLAIN, 0, 0, 0, 0
                        bkey, i = _key(buf, i, n, bound_table, bound_lengths)
                        if bkey < 0 or (bound_seen >> bkey) & 1:
                            return NOT_PLAIN, 0, 0, 0, 0
                        bound_seen |= 1 << bkey
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n or buf[i] != 58:
                            return NOT_PLAIN, 0, 0, 0, 0
                        i += 1
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        s = i
                        status, i, number, exact = _number(buf, i, n, pow10)
                        if status < 0:
                            return NOT_PLAIN, 0, 0, 0, 0
                        to_lower = bkey == (1 if inea else 0)
                        if inea:
                            number = -number
                        if to_lower:
                            totals[f, 0] = number
                            t0 = s
                            t1 = i
                        else:
                            totals[f, 1] = number
                            t2 = s
                            t3 = i
                        if not exact:
                            if n_slow >= slow.shape[0]:
                                return NOT_PLAIN, 0, 0, 0, 0
                            slow[n_slow, 0] = SLOW_TOTAL_LOWER if to_lower else SLOW_TOTAL_UPPER
                            slow[n_slow, 1] = f
                            slow[n_slow, 2] = s
                            slow[n_slow, 3] = i
                            n_slow += 1
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i < n and buf[i] == 44:
                            i += 1
                            continue
                        if i < n and buf[i] == 125:
                            i += 1
                            break
                        return NOT_PLAIN, 0, 0, 0, 0
                    if bound_seen != 3:
                        return NOT_PLAIN, 0, 0, 0, 0
                    if o + (t1 - t0) + (t3 - t2) + 64 > out.shape[0]:
                        return NOT_PLAIN, 0, 0, 0, 0
                    meta[f, M_HAS_TOTAL] = 1
                    meta[f, M_TOTAL_START] = o
                    for part in range(2):
                        head = open_total if part == 0 else mid_total
                        for k in range(head.shape[0]):
                            out[o + k] = head[k]
                        o += head.shape[0]
                        ts = t0 if part == 0 else t2
                        te = t1 if part == 0 else t3
                        o = _copy_number(buf, ts, te, inea, out, o)
                    out[o] = 125
                    o += 1
                    meta[f, M_TOTAL_END] = o
                else:  # defaultSchedule: {startTime, energyAmounts}
                    if buf[i] != 123:
                        return NOT_PLAIN, 0, 0, 0, 0
                    i += 1
                    schedule_seen = 0
                    while True:
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n or buf[i] != 34:
                            return NOT_PLAIN, 0, 0, 0, 0
                        dkey, i = _key(buf, i, n, schedule_table, schedule_lengths)
                        if dkey < 0 or (schedule_seen >> dkey) & 1:
                            return NOT_PLAIN, 0, 0, 0, 0
                        schedule_seen |= 1 << dkey
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n or buf[i] != 58:
                            return NOT_PLAIN, 0, 0, 0, 0
                        i += 1
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i >= n:
                            return NOT_PLAIN, 0, 0, 0, 0
                        if dkey == 0:  # startTime
                            if buf[i] != 34:
                                return NOT_PLAIN, 0, 0, 0, 0
                            s = i + 1
                            i = s
                            while i < n and buf[i] != 34 and buf[i] != 92 and buf[i] >= 32:
                                i += 1
                            if i >= n or buf[i] != 34:
                                return NOT_PLAIN, 0, 0, 0, 0
                            meta[f, M_DEFAULT_TIME_START] = s
                            meta[f, M_DEFAULT_TIME_END] = i
                            i += 1
                        else:  # energyAmounts: [numbers], copied to the document as they come
                            if buf[i] != 91:
                                return NOT_PLAIN, 0, 0, 0, 0
                            i += 1
                            meta[f, M_ENERGY_START] = n_energy
                            meta[f, M_DEFAULT_START] = o
                            if o + 2 > out.shape[0]:
                                return NOT_PLAIN, 0, 0, 0, 0
                            out[o] = 91
                            o += 1
                            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                i += 1
                            if i < n and buf[i] == 93:
                                i += 1
                            else:
                                while True:
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    s = i
                                    status, i, number, exact = _number(buf, i, n, pow10)
                                    if status < 0 or n_energy >= energy.shape[0]:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    if inea:
                                        number = -number
                                    energy[n_energy] = number
                                    if not exact:
                                        if n_slow >= slow.shape[0]:
                                            return NOT_PLAIN, 0, 0, 0, 0
                                        slow[n_slow, 0] = SLOW_ENERGY
                                        slow[n_slow, 1] = n_energy
                                        slow[n_slow, 2] = s
                                        slow[n_slow, 3] = i
                                        n_slow += 1
                                    n_energy += 1
                                    if o + (i - s) + 32 > out.shape[0]:
                                        return NOT_PLAIN, 0, 0, 0, 0
                                    if n_energy - 1 > meta[f, M_ENERGY_START]:
                                        out[o] = 44
                                        o += 1
                                    o = _copy_number(buf, s, i, inea, out, o)
                                    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                                        i += 1
                                    if i < n and buf[i] == 44:
                                        i += 1
                                        continue
                                    if i < n and buf[i] == 93:
                                        i += 1
                                        break
                                    return NOT_PLAIN, 0, 0, 0, 0
                            out[o] = 93
                            o += 1
                            meta[f, M_DEFAULT_END] = o
                            meta[f, M_ENERGY_COUNT] = n_energy - meta[f, M_ENERGY_START]
                        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                            i += 1
                        if i < n and buf[i] == 44:
                            i += 1
                            continue
                        if i < n and buf[i] == 125:
                            i += 1
                            break
                        return NOT_PLAIN, 0, 0, 0, 0
                    if schedule_seen != 3:
                        return NOT_PLAIN, 0, 0, 0, 0
                    meta[f, M_HAS_DEFAULT] = 1
            while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
                i += 1
            if i < n and buf[i] == 44:
                i += 1
                continue
            if i < n and buf[i] == 125:
                i += 1
                break
            return NOT_PLAIN, 0, 0, 0, 0
        # Required: the profile and the start.
        if not (seen >> _K_SLICES) & 1 or not (seen >> START_AFTER) & 1:
            return NOT_PLAIN, 0, 0, 0, 0
        n_offers += 1
        while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
            i += 1
        if i < n and buf[i] == 44:
            i += 1
            continue
        if i < n and buf[i] == 93:
            i += 1
            break
        return NOT_PLAIN, 0, 0, 0, 0
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i >= n or buf[i] != 125:
        return NOT_PLAIN, 0, 0, 0, 0
    i += 1
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    if i != n:
        return NOT_PLAIN, 0, 0, 0, 0
    return n_offers, n_slices, n_energy, o, n_slow


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
