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

/// Whether `cfdfs_crc32_fold` can run here (x86-64 with PCLMULQDQ and SSE4.1).
int cfdfs_crc32_fold_available(void);

/// CRC-32 (IEEE, reflected, zlib's) of `length` bytes by carry-less multiplication (Intel's
/// "Fast CRC Computation Using PCLMULQDQ"): `register_in` is the running register (0xFFFFFFFF
/// at the start, the CRC is its complement), the register after the bytes is returned.
/// `length` must be at least 64 and a multiple of 16; only call when
/// `cfdfs_crc32_fold_available()` said so.
unsigned int cfdfs_crc32_fold(unsigned int register_in, const void *bytes, size_t length);

#endif
