/* faultshim.c: an LD_PRELOAD library that makes one chosen write-side call
 * of a process fail, for tests/test_faults.c.
 *
 * Counted calls: write, pwrite(64), writev, pwritev, fwrite (not on fds 0-2
 * or stdout/stderr), fsync, fdatasync, msync, ftruncate(64), fallocate(64),
 * posix_fallocate(64), rename, renameat, renameat2. Environment:
 *   MX_FAULT_AT=N      the N-th counted call (1-based) fails; 0 = none
 *   MX_FAULT_MODE=M    ENOSPC, EIO, or SHORT (a write writes half its bytes
 *                      and reports that; other calls fail with EIO)
 *   MX_FAULT_COUNT=F   at exit, the number of counted calls goes to file F
 */
#undef _FILE_OFFSET_BITS /* this file defines both pwrite and pwrite64 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

enum { M_ENOSPC, M_EIO, M_SHORT };
static atomic_long calls;
static long fail_at;
static int mode;

__attribute__((constructor)) static void init(void) {
  const char *at = getenv("MX_FAULT_AT"), *m = getenv("MX_FAULT_MODE");
  fail_at = at ? atol(at) : 0;
  mode = !m || strcmp(m, "ENOSPC") == 0 ? M_ENOSPC : strcmp(m, "EIO") == 0 ? M_EIO : M_SHORT;
}

__attribute__((destructor)) static void fini(void) {
  const char *path = getenv("MX_FAULT_COUNT");
  if (!path)
    return;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)atomic_load(&calls));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t (*real)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (real)
      (void)real(fd, buf, (size_t)n);
    close(fd);
  }
}

/* 1 when this call is the one to fail. */
static int hit(void) { return atomic_fetch_add(&calls, 1) + 1 == fail_at; }
static int fail_errno(void) { return mode == M_ENOSPC ? ENOSPC : EIO; }

/* The next definition of name (libc's), looked up once. */
#define REAL(name)                                  \
  static __typeof__(&name) real_##name;             \
  if (!real_##name)                                 \
  real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

/* The build hides symbols by default; these must be seen to interpose. */
#define EXPORT __attribute__((visibility("default")))

EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  if (fd > 2 && hit()) {
    if (mode == M_SHORT && n > 1)
      return real_write(fd, buf, n / 2);
    errno = fail_errno();
    return -1;
  }
  return real_write(fd, buf, n);
}

static ssize_t pwrite_common(ssize_t (*real)(int, const void *, size_t, off_t), int fd,
                             const void *buf, size_t n, off_t off) {
  if (fd > 2 && hit()) {
    if (mode == M_SHORT && n > 1)
      return real(fd, buf, n / 2, off);
    errno = fail_errno();
    return -1;
  }
  return real(fd, buf, n, off);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite);
  return pwrite_common(real_pwrite, fd, buf, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  REAL(pwrite64);
  return pwrite_common(real_pwrite64, fd, buf, n, (off_t)off);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  REAL(writev);
  if (fd > 2 && hit()) {
    if (mode == M_SHORT && cnt > 1)
      return real_writev(fd, iov, cnt / 2);
    errno = fail_errno();
    return -1;
  }
  return real_writev(fd, iov, cnt);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  REAL(pwritev);
  if (fd > 2 && hit()) {
    if (mode == M_SHORT && cnt > 1)
      return real_pwritev(fd, iov, cnt / 2, off);
    errno = fail_errno();
    return -1;
  }
  return real_pwritev(fd, iov, cnt, off);
}

EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *f) {
  REAL(fwrite);
  if (f != stdout && f != stderr && hit()) {
    if (mode == M_SHORT && n > 1)
      return real_fwrite(p, size, n / 2, f);
    errno = fail_errno();
    return 0;
  }
  return real_fwrite(p, size, n, f);
}

#define FAIL_INT_CALL(call)  \
  do {                       \
    if (hit()) {             \
      errno = mode == M_ENOSPC ? ENOSPC : EIO; \
      return -1;             \
    }                        \
    return call;             \
  } while (0)

EXPORT int fsync(int fd) {
  REAL(fsync);
  FAIL_INT_CALL(real_fsync(fd));
}

EXPORT int fdatasync(int fd) {
  REAL(fdatasync);
  FAIL_INT_CALL(real_fdatasync(fd));
}

EXPORT int msync(void *addr, size_t len, int flags) {
  REAL(msync);
  FAIL_INT_CALL(real_msync(addr, len, flags));
}

EXPORT int ftruncate(int fd, off_t len) {
  REAL(ftruncate);
  FAIL_INT_CALL(real_ftruncate(fd, len));
}

EXPORT int ftruncate64(int fd, off64_t len) {
  REAL(ftruncate64);
  FAIL_INT_CALL(real_ftruncate64(fd, len));
}

EXPORT int fallocate(int fd, int m, off_t off, off_t len) {
  REAL(fallocate);
  FAIL_INT_CALL(real_fallocate(fd, m, off, len));
}

EXPORT int fallocate64(int fd, int m, off64_t off, off64_t len) {
  REAL(fallocate64);
  FAIL_INT_CALL(real_fallocate64(fd, m, off, len));
}

/* posix_fallocate returns the error instead of setting errno */
EXPORT int posix_fallocate(int fd, off_t off, off_t len) {
  REAL(posix_fallocate);
  if (hit())
    return mode == M_ENOSPC ? ENOSPC : EIO;
  return real_posix_fallocate(fd, off, len);
}

EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len) {
  REAL(posix_fallocate64);
  if (hit())
    return mode == M_ENOSPC ? ENOSPC : EIO;
  return real_posix_fallocate64(fd, off, len);
}

EXPORT int rename(const char *a, const char *b) {
  REAL(rename);
  FAIL_INT_CALL(real_rename(a, b));
}

EXPORT int renameat(int fa, const char *a, int fb, const char *b) {
  REAL(renameat);
  FAIL_INT_CALL(real_renameat(fa, a, fb, b));
}

EXPORT int renameat2(int fa, const char *a, int fb, const char *b, unsigned flags) {
  REAL(renameat2);
  FAIL_INT_CALL(real_renameat2(fa, a, fb, b, flags));
}
