/* Atomics shared by the watchdog thread (no GIL) and the worker threads.
 *
 * The watchdog reads what Python-side code writes (heartbeat, request start
 * times, the stop reason) without any lock: plain loads and stores with
 * acquire/release ordering, and one compare-and-swap so that exactly one of
 * several triggers (watchdog, maximum-requests) names the cause of a stop.
 */
#ifndef FASTWSGI_ATOMICS_H
#define FASTWSGI_ATOMICS_H

static inline long long fw_load_ll(const long long *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void fw_store_ll(long long *p, long long v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline int fw_load_int(const int *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* 1 if *p was `expected` and is now `desired`, 0 if *p held something else. */
static inline int fw_cas_int(int *p, int expected, int desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Adds delta to *p; the new value. */
static inline int fw_add_int(int *p, int delta) {
    return __atomic_add_fetch(p, delta, __ATOMIC_ACQ_REL);
}

#endif
