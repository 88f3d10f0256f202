/* fsutil.h: file-system steps that make on-disk changes crash-safe. Each
 * returns MX_OK or a status from errno with the path named in err. */
#ifndef MX_COMMON_FSUTIL_H
#define MX_COMMON_FSUTIL_H

#include <stddef.h>

#include "metaidx.h"

/* Writes data to path so that a crash leaves either the old file or the new
 * one: write "<path>.tmp.<pid>", fsync it, rename over path, fsync the
 * directory. */
mx_status mx_write_file_atomic(const char *path, const void *data, size_t len, mx_error *err);

/* fsyncs a file or a directory by path. */
mx_status mx_fsync_path(const char *path, mx_error *err);

/* fsyncs the directory that contains path. */
mx_status mx_fsync_parent(const char *path, mx_error *err);

/* mkdir -p; an existing directory is fine. */
mx_status mx_mkdir_p(const char *path, mx_error *err);

/* rm -rf; a missing path is fine. Does not follow symbolic links. */
mx_status mx_remove_tree(const char *path, mx_error *err);

/* ---- directories the engine owns
 * The engine deletes only what it created. A directory it creates holds,
 * written before anything else, the marker file MX_OWNER_MARKER; a layout
 * lists every entry the engine may write there (relative paths, fnmatch
 * patterns). Removal then never touches an entry outside the layout, so a
 * user's file inside or beside an index survives every build, overwrite,
 * cleanup and failure. */
#define MX_OWNER_MARKER ".metaidx"

typedef struct mx_owned_entry {
  const char *pattern; /* e.g. "store/data.mdb", "manifest.json.tmp.*" */
  int is_dir;
} mx_owned_entry; /* a layout is an array ended by {NULL, 0} */

/* Creates path (which must not exist: MX_ERR_EXISTS) and its marker. */
mx_status mx_owned_dir_create(const char *path, mx_error *err);

/* 1 if path is a directory holding the marker. */
int mx_owned_dir_marked(const char *path);

/* MX_OK if every entry under the directory path matches the layout (with
 * the right type; symbolic links never do); else MX_ERR_EXISTS naming the
 * first entry that does not, in the message "'<path>' holds '<entry>',
 * which metaidx did not create". */
mx_status mx_owned_tree_check(const char *path, const mx_owned_entry *layout, mx_error *err);

/* Removes the entries of the layout under path, the marker last, then path
 * itself; an entry outside the layout (even one that appears while this
 * runs) is left, with its directories, and reported as by
 * mx_owned_tree_check. A missing path is fine. */
mx_status mx_owned_tree_remove(const char *path, const mx_owned_entry *layout, mx_error *err);

/* Opens path read-only, refusing anything but a regular file (MX_ERR_
 * INVALID_ARGUMENT) without blocking on it: a FIFO is opened O_NONBLOCK
 * and rejected, never waited on. *fd is a blocking descriptor on success. */
mx_status mx_open_regular(const char *path, int *fd, mx_error *err);

/* Reads a whole (small) file into a malloc'd, NUL-terminated buffer. */
mx_status mx_read_file(const char *path, size_t max_len, char **out, size_t *len, mx_error *err);

/* out = "dir/name"; MX_ERR_INVALID_ARGUMENT if it does not fit in cap. */
mx_status mx_path_join(char *out, size_t cap, const char *dir, const char *name, mx_error *err);

/* Maps a whole regular file read-only (MAP_PRIVATE, advised sequential).
 * An empty file gives *map = NULL, *len = 0. Release with mx_unmap_file.
 * The mapping is watched (faultguard.h): if another program truncates the
 * file, reads past its new end give zeros instead of killing the process
 * with SIGBUS, and mx_map_check_intact says so afterwards. */
mx_status mx_map_file(const char *path, void **map, size_t *len, mx_error *err);
void mx_unmap_file(void *map, size_t len);
/* MX_ERR_IO naming path if the file mapped at map (len bytes) shrank: a
 * read past its new end happened, or path is now shorter. Else MX_OK. */
mx_status mx_map_check_intact(const void *map, size_t len, const char *path, mx_error *err);

/* 1 if path exists (any type), else 0. */
int mx_path_exists(const char *path);

/* Bytes used on disk by all files under path (st_blocks * 512). */
unsigned long long mx_tree_bytes(const char *path);

#endif
