"""Privacy mode: encrypted transient buffers, in-memory keys, the no-retention policy and
the metadata-only audit log. Its modules arrive with privacy mode; until then the batch
pipeline keeps nothing but the files it is asked to write."""
