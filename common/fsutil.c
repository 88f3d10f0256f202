/* fsutil.c: crash-safe file writes, directory fsync, mkdir -p, rm -rf, and
 * removal limited to what the engine created (owned directories). */
#include "fsutil.h"
#include "faultguard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
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

/* ---------------------------------------------------------- owned directories */

static const char marker_text[] =
    "This directory was created by metaidx. metaidx removes from it only the files it wrote.\n";

mx_status mx_owned_dir_create(const char *path, mx_error *err) {
  if (mkdir(path, 0755) != 0) {
    if (errno == EEXIST)
      return mx_fail(err, MX_ERR_EXISTS, "'%s' already exists", path);
    return fail_errno(err, errno, "cannot create directory", path);
  }
  char marker[PATH_MAX];
  MX_TRY(mx_path_join(marker, sizeof marker, path, MX_OWNER_MARKER, err));
  int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    mx_status s = fail_errno(err, errno, "cannot create", marker);
    rmdir(path);
    return s;
  }
  mx_status s = write_all(fd, marker_text, sizeof marker_text - 1, marker, err);
  if (s == MX_OK && fsync(fd) != 0)
    s = fail_errno(err, errno, "cannot fsync", marker);
  close(fd);
  if (s != MX_OK) { /* both were made just now, by this call: take them back */
    unlink(marker);
    rmdir(path);
  }
  return s;
}

int mx_owned_dir_marked(const char *path) {
  char marker[PATH_MAX];
  struct stat st;
  return mx_path_join(marker, sizeof marker, path, MX_OWNER_MARKER, NULL) == MX_OK &&
         lstat(marker, &st) == 0 && S_ISREG(st.st_mode);
}

/* The layout entry that rel (a path relative to the owned directory)
 * matches with its type, or NULL. The marker always matches, at the top. */
static const mx_owned_entry *owned_match(const mx_owned_entry *layout, const char *rel,
                                         int is_dir) {
  static const mx_owned_entry marker_entry = {MX_OWNER_MARKER, 0};
  if (!is_dir && strcmp(rel, MX_OWNER_MARKER) == 0)
    return &marker_entry;
  for (const mx_owned_entry *e = layout; e->pattern; e++)
    if (e->is_dir == is_dir && fnmatch(e->pattern, rel, FNM_PATHNAME | FNM_PERIOD) == 0)
      return e;
  return NULL;
}

typedef struct owned_walk {
  const char *root;
  const mx_owned_entry *layout;
  int remove;        /* 0: only check */
  char foreign[PATH_MAX]; /* first entry outside the layout, relative */
  int foreign_found;
  int errnum;        /* first system error */
  char errpath[PATH_MAX]; /* relative */
} owned_walk;

static void walk_error(owned_walk *w, const char *rel) {
  if (w->errnum)
    return;
  w->errnum = errno ? errno : EIO;
  snprintf(w->errpath, sizeof w->errpath, "%s", rel);
}

static void walk_foreign(owned_walk *w, const char *rel) {
  if (!w->foreign_found)
    snprintf(w->foreign, sizeof w->foreign, "%s", rel);
  w->foreign_found = 1;
}

/* Visits the directory open as dfd (rel is its path under the root, "" at
 * the root); when removing, unlinks what the layout names, the marker
 * after everything else. Closes dfd. */
static void owned_walk_dir(owned_walk *w, int dfd, const char *rel) {
  DIR *d = fdopendir(dfd);
  if (!d) {
    walk_error(w, rel);
    close(dfd);
    return;
  }
  int has_marker = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char child[PATH_MAX];
    if (snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
        (int)sizeof child) {
      walk_foreign(w, e->d_name);
      continue;
    }
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT)
        walk_error(w, child);
      continue;
    }
    int is_dir = S_ISDIR(st.st_mode);
    if ((!is_dir && !S_ISREG(st.st_mode)) || !owned_match(w->layout, child, is_dir)) {
      walk_foreign(w, child);
      continue;
    }
    if (!rel[0] && !is_dir && strcmp(e->d_name, MX_OWNER_MARKER) == 0) {
      has_marker = 1;
      continue;
    }
    if (is_dir) {
      int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        walk_error(w, child);
        continue;
      }
      owned_walk_dir(w, sub, child);
      /* ENOTEMPTY: something foreign is inside, already noted */
      if (w->remove && unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY &&
          errno != EEXIST && errno != ENOENT)
        walk_error(w, child);
    } else if (w->remove && unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT) {
      walk_error(w, child);
    }
  }
  if (w->remove && has_marker && !w->foreign_found && !w->errnum &&
      unlinkat(dfd, MX_OWNER_MARKER, 0) != 0 && errno != ENOENT)
    walk_error(w, MX_OWNER_MARKER);
  closedir(d);
}

static mx_status owned_walk_run(const char *path, const mx_owned_entry *layout, int remove,
                                mx_error *err) {
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == ENOENT && remove)
      return MX_OK;
    if (errno == ENOTDIR || errno == ELOOP)
      return mx_fail(err, MX_ERR_EXISTS, "'%s' is not a directory metaidx created", path);
    return fail_errno(err, errno, "cannot open directory", path);
  }
  owned_walk w = {.root = path, .layout = layout, .remove = remove};
  owned_walk_dir(&w, dfd, "");
  if (w.errnum)
    return mx_fail(err, mx_status_from_errno(w.errnum), "cannot %s '%s/%s': %s",
                   remove ? "remove" : "inspect", path, w.errpath, strerror(w.errnum));
  if (w.foreign_found)
    return mx_fail(err, MX_ERR_EXISTS, "'%s' holds '%s', which metaidx did not create", path,
                   w.foreign);
  if (remove && rmdir(path) != 0 && errno != ENOENT) {
    if (errno == ENOTEMPTY || errno == EEXIST) /* something appeared meanwhile */
      return mx_fail(err, MX_ERR_EXISTS, "'%s' holds files metaidx did not create; left in place",
                     path);
    return fail_errno(err, errno, "cannot remove directory", path);
  }
  return MX_OK;
}

mx_status mx_owned_tree_check(const char *path, const mx_owned_entry *layout, mx_error *err) {
  return owned_walk_run(path, layout, 0, err);
}

mx_status mx_owned_tree_remove(const char *path, const mx_owned_entry *layout, mx_error *err) {
  return owned_walk_run(path, layout, 1, err);
}

mx_status mx_open_regular(const char *path, int *out, mx_error *err) {
  *out = -1;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
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
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    int e = errno;
    close(fd);
    return fail_errno(err, e, "cannot open", path);
  }
  *out = fd;
  return MX_OK;
}

mx_status mx_read_file(const char *path, size_t max_len, char **out, size_t *len, mx_error *err) {
  int fd;
  MX_TRY(mx_open_regular(path, &fd, err));
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
  int fd;
  MX_TRY(mx_open_regular(path, &fd, err));
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
  (void)mx_fault_watch(p, size); /* no free slot: unwatched, as before */
  *map = p;
  *len = size;
  return MX_OK;
}

void mx_unmap_file(void *map, size_t len) {
  if (map && len) {
    mx_fault_unwatch(map);
    munmap(map, len);
  }
}

mx_status mx_map_check_intact(const void *map, size_t len, const char *path, mx_error *err) {
  struct stat st;
  long long now = stat(path, &st) == 0 ? (long long)st.st_size : -1;
  /* A cut inside a page reads zeros there without any fault: the size
   * tells. A cut before a page the reader then touched: the watch tells. */
  if (!mx_fault_watch_shrunk(map) && (now < 0 || (unsigned long long)now >= len))
    return MX_OK;
  return mx_fail(err, MX_ERR_IO,
                 "'%s' shrank while it was being read (%zu bytes when opened, now %lld): "
                 "another program truncated or rewrote it; nothing read from it is used",
                 path, len, now);
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
