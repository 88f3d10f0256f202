/* topk.c: bounded min-heap of (score, doc) keeping the k best; the root is
 * the worst kept item, so a new candidate costs one comparison unless it
 * gets in. Order: higher score first, equal scores by smaller doc id; a NaN
 * score ranks below every number. */
#include "topk.h"

#include <math.h>

/* True when a ranks strictly below b. */
static inline int worse(const mx_scored *a, const mx_scored *b) {
  int an = isnan(a->score), bn = isnan(b->score);
  if (an != bn)
    return an;
  if (!an && a->score != b->score)
    return a->score < b->score;
  return a->doc > b->doc;
}

static void sift_down(mx_scored *h, size_t n, size_t i) {
  mx_scored x = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && worse(&h[c + 1], &h[c]))
      c++;
    if (!worse(&h[c], &x))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

void mx_topk_init(mx_topk *t, mx_scored *storage, size_t k) {
  t->items = storage;
  t->k = storage ? k : 0;
  t->n = 0;
}

void mx_topk_push(mx_topk *t, float score, uint64_t doc) {
  mx_scored x = {score, doc};
  mx_scored *h = t->items;
  if (t->n < t->k) {
    size_t i = t->n++;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!worse(&x, &h[p]))
        break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
  } else if (t->k > 0 && worse(&h[0], &x)) {
    h[0] = x;
    sift_down(h, t->n, 0);
  }
}

size_t mx_topk_finish(mx_topk *t) {
  /* Heap sort: move the worst to the end each time, leaving best first. */
  mx_scored *h = t->items;
  for (size_t m = t->n; m > 1; m--) {
    mx_scored w = h[0];
    h[0] = h[m - 1];
    h[m - 1] = w;
    sift_down(h, m - 1, 0);
  }
  return t->n;
}
