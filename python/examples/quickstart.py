import sys
import numpy as np
import metaidx

rng = np.random.default_rng(0)
docs = rng.standard_normal((2000, 16, 128), dtype=np.float32)  # N docs x R vectors x d
docs /= np.linalg.norm(docs, axis=-1, keepdims=True)           # MetaEmbed vectors are unit length
path = sys.argv[1] if len(sys.argv) > 1 else "myindex"
metaidx.build(path, docs, overwrite=True)                      # stored f16, MetaEmbed budgets
with metaidx.Index(path) as ix:
    ids, scores = ix.search(docs[7, :4], k=5, budget=(4, 16))  # a query of 4 nested vectors
for rank, (doc, score) in enumerate(zip(ids, scores), 1):
    print(f"{rank}. doc {doc} score {score:.4f}")
