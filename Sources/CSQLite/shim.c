#include "CSQLite.h"
#include <time.h>

uint64_t raftlite_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int raftlite_deadline_progress_handler(void *context) {
    const uint64_t deadline = *(const uint64_t *)context;
    if (deadline == 0) return 0;
    return raftlite_monotonic_ns() >= deadline ? 1 : 0;
}
