#define _GNU_SOURCE
#include <fcntl.h>
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

int raftlite_write_back(int fd) {
    // Waits for the writeback started last time, then starts writing every page dirtied since, without
    // waiting for it: at most two steps of data are ever in flight or dirty.
#ifdef __linux__
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    return 0;  // elsewhere the final fsync does all the writing
#endif
}
