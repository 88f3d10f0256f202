/* builder.h: the builder's entry point below the public mx_builder_finish.
 * index/ cannot search (it never includes query/), so the step that needs
 * searching -- the quick calibration a build ends with -- is passed in by
 * query/build_finish.c, which defines mx_builder_finish. */
#ifndef MX_INDEX_BUILDER_H
#define MX_INDEX_BUILDER_H

#include "metaidx.h"

/* Called on the complete but unpublished index directory (manifest
 * written), with the build's options; an error fails the build. */
typedef mx_status (*mx_build_hook)(const char *dir, const mx_build_options *opts, mx_error *err);

/* mx_builder_finish with before_publish (may be NULL) run just before the
 * directory is published. */
mx_status mx_builder_finish_with(mx_builder *b, mx_build_hook before_publish, mx_error *err);

#endif
