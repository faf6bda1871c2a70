#define _GNU_SOURCE
#include "cfdfs_system.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#if defined(__linux__)
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int cfdfs_rename_noreplace(const char *from, const char *to) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
#else
    (void)from; (void)to;
    errno = ENOSYS;
    return -1;
#endif
}

long cfdfs_getrandom(void *buffer, size_t count) {
#if defined(__linux__)
    return getrandom(buffer, count, 0);
#else
    (void)buffer; (void)count;
    errno = ENOSYS;
    return -1;
#endif
}
