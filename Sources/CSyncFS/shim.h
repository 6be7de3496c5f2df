// syncfs(2): glibc declares it only under _GNU_SOURCE, which Swift's Glibc module does not set.
#ifndef POSTIE_CSYNCFS_SHIM_H
#define POSTIE_CSYNCFS_SHIM_H

#include <sys/syscall.h>
#include <unistd.h>

/// Syncs the file system that holds `fd` (Linux): data, metadata and a cache flush.
static inline int postie_syncfs(int fd) {
    return (int)syscall(SYS_syncfs, fd);
}

#endif
