/* layout.h: the names of an index directory's parts (docs/FORMAT.md),
 * defined once for the builder, the reader and verify:
 *
 *   <index>/manifest.json   MX_MANIFEST_NAME, written last (manifest.h)
 *   <index>/coarse.faiss    MX_COARSE_NAME, the FAISS index over leading vectors
 *   <index>/store/          MX_STORE_NAME, the LMDB environment (store.h)
 *   <index>/calibration.jsonl  MX_CALIBRATION_NAME, optional: the recall
 *                           calibration table (calibration.h, docs/recall.md) */
#ifndef MX_STORAGE_LAYOUT_H
#define MX_STORAGE_LAYOUT_H

#define MX_MANIFEST_NAME "manifest.json"
#define MX_COARSE_NAME "coarse.faiss"
#define MX_STORE_NAME "store"
#define MX_CALIBRATION_NAME "calibration.jsonl"

/* The store's "meta" entry holding the index identity (MX_INDEX_ID_BYTES
 * raw bytes, equal to the manifest's index_id). */
#define MX_META_INDEX_ID "index_id"

#endif
