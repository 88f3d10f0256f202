/* search_internal.h: what exact.c and verify.c need from an open index. */
#ifndef MX_QUERY_SEARCH_INTERNAL_H
#define MX_QUERY_SEARCH_INTERNAL_H

#include "manifest.h"
#include "maxsim.h"
#include "metaidx.h"
#include "store.h"

const mx_manifest *mx_index_manifest(const mx_index *index);
mx_store *mx_index_store(mx_index *index);
mx_maxsim_fn mx_index_kernel(const mx_index *index);

#endif
