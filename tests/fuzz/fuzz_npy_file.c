/* fuzz_npy_file.c: libFuzzer target for mx_npy_open: the input is a whole
 * .npy file (header and body), written to a per-process temporary file and
 * opened, so the size, alignment and mapping checks see hostile bytes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmp_path[4096];

static void remove_tmp(void) {
  if (tmp_path[0])
    unlink(tmp_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tmp_path[0]) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/mx_fuzz_npy.%ld.npy", dir && *dir ? dir : "/tmp",
             (long)getpid());
    atexit(remove_tmp);
  }
  int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    abort();
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0)
      abort();
    done += (size_t)w;
  }
  close(fd);

  mx_npy f;
  mx_error err;
  mx_status s = mx_npy_open(tmp_path, &f, &err);
  if (s == MX_OK) {
    size_t es = mx_npy_type_size(f.h.type);
    if (es == 0 || f.data_bytes != f.h.n_elements * es || f.h.data_offset + f.data_bytes != size ||
        f.h.data_offset % es != 0 || (uintptr_t)f.data % es != 0)
      abort();
    /* touch every data byte: the mapping must cover what the header says */
    const unsigned char *p = f.data;
    unsigned sum = 0;
    for (size_t i = 0; i < f.data_bytes; i++)
      sum += p[i];
    if (memcmp(p, data + f.h.data_offset, f.data_bytes) != 0)
      abort();
    (void)sum;
  } else if (s != MX_ERR_FORMAT && s != MX_ERR_UNSUPPORTED) {
    abort();
  } else if (err.message[0] == '\0' || !strstr(err.message, tmp_path)) {
    abort(); /* messages name the path */
  } else {
    /* on failure *out is zeroed */
    static const mx_npy zero;
    if (memcmp(&f, &zero, sizeof f) != 0)
      abort();
  }
  mx_npy_close(&f);
  return 0;
}
