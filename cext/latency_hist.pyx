# The latency histogram of the load generator (loadgen.pyx): log-linear, of
# fixed size, HDR-like. Values below H_LINEAR (256 ns) have a counter each;
# above, every power of two is cut into H_SUB (128) equal sub-buckets, so a
# bucket is less than 1/128 of its values wide. 4480 counters reach 2^41 ns
# (36 minutes; larger values are counted there). Histograms of several
# processes merge exactly by adding their counters; a quantile is read as
# the middle of the bucket it falls in (within 0.4% of the true value).

DEF H_SUB = 128               # sub-buckets per power of two
DEF H_LINEAR = 256            # values below are counted exactly
DEF H_SIZE = 4480             # H_LINEAR + 33 powers of two (2^8 .. 2^40) * H_SUB

cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil

cdef unsigned long long H_MAX_NS = (1ULL << 41) - 1

LOADGEN_HISTOGRAM_SIZE = H_SIZE


cdef inline int hist_index(unsigned long long v) noexcept nogil:
    cdef int e
    if v < H_LINEAR:
        return <int>v
    if v > H_MAX_NS:
        v = H_MAX_NS
    e = 63 - __builtin_clzll(v)
    return H_LINEAR + (e - 8) * H_SUB + <int>((v >> (e - 7)) - H_SUB)


cdef inline unsigned long long hist_low(int i) noexcept nogil:
    """The smallest value counted in bucket i."""
    cdef int k, e
    if i < H_LINEAR:
        return <unsigned long long>i
    k = i - H_LINEAR
    e = 8 + k // H_SUB
    return (<unsigned long long>(H_SUB + k % H_SUB)) << (e - 7)


cdef inline unsigned long long hist_width(int i) noexcept nogil:
    if i < H_LINEAR:
        return 1
    return (<unsigned long long>1) << ((i - H_LINEAR) // H_SUB + 1)


def histogram_record(unsigned long long[::1] hist, unsigned long long value_ns):
    """Count one value in a latency histogram (an array('Q') of LOADGEN_HISTOGRAM_SIZE)."""
    if hist.shape[0] != H_SIZE:
        raise ValueError(f"a latency histogram has {H_SIZE} counters")
    hist[hist_index(value_ns)] += 1


def histogram_percentiles(const unsigned long long[::1] hist, quantiles):
    """The value (ns) at each quantile (0..1) of a histogram; the middle of its bucket."""
    cdef unsigned long long total = 0, seen, target
    cdef int i
    cdef list out = []
    if hist.shape[0] != H_SIZE:
        raise ValueError(f"a latency histogram has {H_SIZE} counters")
    for i in range(H_SIZE):
        total += hist[i]
    for q in quantiles:
        if not 0.0 <= q <= 1.0:
            raise ValueError("a quantile is between 0 and 1")
        if total == 0:
            out.append(0.0)
            continue
        target = <unsigned long long>(q * total)
        if target < q * total or target == 0:
            target += 1  # the smallest value with at least q of all at or below it
        seen = 0
        for i in range(H_SIZE):
            seen += hist[i]
            if seen >= target:
                break
        out.append(hist_low(i) + (hist_width(i) - 1) / 2.0)
    return out
