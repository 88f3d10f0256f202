/* fsutil.c: crash-safe file writes, directory fsync, mkdir -p, rm -rf. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

static mx_status fail_errno(mx_error *err, int errnum, const char *what, const char *path) {
  return mx_fail(err, mx_status_from_errno(errnum), "%s '%s': %s", what, path, strerror(errnum));
}

mx_status mx_fsync_path(const char *path, mx_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail_errno(err, errno, "cannot open", path);
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  if (rc != 0 && saved != EINVAL) /* some file systems cannot fsync a directory */
    return fail_errno(err, saved, "cannot fsync", path);
  return MX_OK;
}

mx_status mx_fsync_parent(const char *path, mx_error *err) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s'", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    return mx_fsync_path(".", err);
  if (slash == dir)
    slash[1] = '\0';
  else
    *slash = '\0';
  return mx_fsync_path(dir, err);
}

static mx_status write_all(int fd, const void *data, size_t len, const char *path,
                           mx_error *err) {
  const unsigned char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno(err, errno, "cannot write", path);
    }
    p += n;
    len -= (size_t)n;
  }
  return MX_OK;
}

mx_status mx_write_file_atomic(const char *path, const void *data, size_t len, mx_error *err) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s'", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail_errno(err, errno, "cannot create", tmp);
  mx_status s = write_all(fd, data, len, tmp, err);
  if (s == MX_OK && fsync(fd) != 0)
    s = fail_errno(err, errno, "cannot fsync", tmp);
  if (close(fd) != 0 && s == MX_OK)
    s = fail_errno(err, errno, "cannot close", tmp);
  if (s == MX_OK && rename(tmp, path) != 0)
    s = fail_errno(err, errno, "cannot rename onto", path);
  if (s != MX_OK) {
    unlink(tmp);
    return s;
  }
  return mx_fsync_parent(path, err);
}

mx_status mx_mkdir_p(const char *path, mx_error *err) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s'", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return fail_errno(err, errno, "cannot create directory", buf);
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return fail_errno(err, errno, "cannot create directory", buf);
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return mx_fail(err, MX_ERR_EXISTS, "'%s' exists and is not a directory", buf);
  return MX_OK;
}

mx_status mx_remove_tree(const char *path, mx_error *err) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? MX_OK : fail_errno(err, errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) != 0 && errno != ENOENT)
      return fail_errno(err, errno, "cannot remove", path);
    return MX_OK;
  }
  DIR *d = opendir(path);
  if (!d)
    return fail_errno(err, errno, "cannot open directory", path);
  mx_status s = MX_OK;
  struct dirent *e;
  while (s == MX_OK && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char child[PATH_MAX];
    if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) {
      s = mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long under '%s'", path);
      break;
    }
    s = mx_remove_tree(child, err);
  }
  closedir(d);
  if (s == MX_OK && rmdir(path) != 0 && errno != ENOENT)
    s = fail_errno(err, errno, "cannot remove directory", path);
  return s;
}

mx_status mx_read_file(const char *path, size_t max_len, char **out, size_t *len, mx_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail_errno(err, errno, "cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail_errno(err, e, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_len) {
    close(fd);
    return mx_fail(err, MX_ERR_FORMAT, "'%s' is not a regular file of at most %zu bytes", path,
                   max_len);
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return mx_fail(err, MX_ERR_NO_MEMORY, "cannot allocate %zu bytes for '%s'", size, path);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      free(buf);
      close(fd);
      return fail_errno(err, e, "cannot read", path);
    }
    got += (size_t)n;
  }
  close(fd);
  buf[size] = '\0';
  *out = buf;
  if (len)
    *len = size;
  return MX_OK;
}

mx_status mx_path_join(char *out, size_t cap, const char *dir, const char *name, mx_error *err) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap)
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "path too long: '%s/%s'", dir, name);
  return MX_OK;
}

mx_status mx_map_file(const char *path, void **map, size_t *len, mx_error *err) {
  *map = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail_errno(err, errno, "cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail_errno(err, e, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return mx_fail(err, MX_ERR_INVALID_ARGUMENT, "'%s' is not a regular file", path);
  }
  if ((uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return mx_fail(err, MX_ERR_UNSUPPORTED, "'%s': file too large to map", path);
  }
  size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return MX_OK;
  }
  void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED)
    return fail_errno(err, e, "cannot map", path);
  (void)madvise(p, size, MADV_SEQUENTIAL);
  *map = p;
  *len = size;
  return MX_OK;
}

void mx_unmap_file(void *map, size_t len) {
  if (map && len)
    munmap(map, len);
}

int mx_path_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

unsigned long long mx_tree_bytes(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return 0;
  unsigned long long total = (unsigned long long)st.st_blocks * 512ull;
  if (!S_ISDIR(st.st_mode))
    return total;
  DIR *d = opendir(path);
  if (!d)
    return total;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char child[PATH_MAX];
    if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child)
      total += mx_tree_bytes(child);
  }
  closedir(d);
  return total;
}
