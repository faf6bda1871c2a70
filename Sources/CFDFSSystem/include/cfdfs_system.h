// Linux system calls that Swift's Glibc module does not export. Each returns what the call
// returns (-1 with errno set on failure); on other systems they fail with ENOSYS.
#ifndef CFDFS_SYSTEM_H
#define CFDFS_SYSTEM_H
#include <stddef.h>


/// rename(2) that never replaces an existing `to` (renameat2 with RENAME_NOREPLACE): EEXIST
/// when it exists; EINVAL or ENOSYS when the file system or kernel cannot do it.
int cfdfs_rename_noreplace(const char *from, const char *to);

/// getrandom(2): up to `count` bytes of kernel randomness; returns how many were written.
long cfdfs_getrandom(void *buffer, size_t count);

#endif
