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

int raftlite_write_back(int fd, int drop) {
    // Waits for the writeback started last time, then starts writing every page dirtied since, without
    // waiting for it: at most two steps of data are ever in flight or dirty. With `drop`, then drops the
    // pages whose writeback is done (dirty and in-flight pages are skipped): they are reused next step.
#ifdef __linux__
    if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE) != 0) return -1;
    if (!drop) return 0;
    return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 ? 0 : -1;
#else
    (void)fd;
    (void)drop;
    return 0;  // elsewhere the final fsync does all the writing
#endif
}

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int raftlite_lower_thread_priority(int nice_value, int io_level) {
#ifdef __linux__
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int rc = setpriority(PRIO_PROCESS, (id_t)tid, nice_value);
    if (io_level >= 0) {
        // IOPRIO_WHO_PROCESS = 1, class best-effort = 2 (shifted by 13), level 0-7.
        if (syscall(SYS_ioprio_set, 1, tid, (2 << 13) | io_level) != 0) rc = -1;
    }
    return rc;
#else
    (void)nice_value; (void)io_level;
    return 0;
#endif
}
