"""An independent writer and reader of Megatron-LM's indexed dataset layout (MMapIndexedDataset),
written from the published format, used to check Primus's .bin/.idx byte for byte.

  megatron_layout.py write TOKENS.json PREFIX VOCAB_SIZE   # [[doc tokens], ...] -> PREFIX.bin/.idx
  megatron_layout.py read PREFIX                           # prints {"dtype_code", "docs": [[...]]}

.idx: b"MMIDIDX\\x00\\x00", <Q version 1, <B dtype code (uint16 = 8 below 65500 tokens, else
int32 = 4), <Q sequence count, <Q document-index count, int32 lengths, int64 byte pointers,
int64 document indices [0, 1, ..., n] (one sequence per document). Standard library only.
"""
import json
import struct
import sys

MAGIC = b"MMIDIDX\x00\x00"


def write(tokens_path, prefix, vocab_size):
    with open(tokens_path) as f:
        docs = json.load(f)
    code, fmt = (8, "H") if vocab_size < 65500 else (4, "i")
    size = struct.calcsize(fmt)
    with open(prefix + ".bin", "wb") as b:
        for d in docs:
            b.write(struct.pack("<%d%s" % (len(d), fmt), *d))
    with open(prefix + ".idx", "wb") as x:
        x.write(MAGIC)
        x.write(struct.pack("<Q", 1))
        x.write(struct.pack("<B", code))
        x.write(struct.pack("<Q", len(docs)))
        x.write(struct.pack("<Q", len(docs) + 1))
        x.write(struct.pack("<%di" % len(docs), *[len(d) for d in docs]))
        ptr, ptrs = 0, []
        for d in docs:
            ptrs.append(ptr)
            ptr += len(d) * size
        x.write(struct.pack("<%dq" % len(docs), *ptrs))
        x.write(struct.pack("<%dq" % (len(docs) + 1), *range(len(docs) + 1)))


def read(prefix):
    with open(prefix + ".idx", "rb") as x:
        idx = x.read()
    assert idx[:9] == MAGIC, "bad magic"
    version, code, seqs, ndoc = struct.unpack_from("<QBQQ", idx, 9)
    assert version == 1, "bad version"
    off = 34
    lengths = struct.unpack_from("<%di" % seqs, idx, off)
    ptrs = struct.unpack_from("<%dq" % seqs, idx, off + 4 * seqs)
    doc_index = struct.unpack_from("<%dq" % ndoc, idx, off + 12 * seqs)
    assert off + 12 * seqs + 8 * ndoc == len(idx), "idx size"
    fmt, size = {8: ("H", 2), 4: ("i", 4)}[code]
    with open(prefix + ".bin", "rb") as b:
        data = b.read()
    seq_tokens = [list(struct.unpack_from("<%d%s" % (n, fmt), data, p)) for n, p in zip(lengths, ptrs)]
    docs = [sum(seq_tokens[doc_index[i]:doc_index[i + 1]], []) for i in range(ndoc - 1)]
    print(json.dumps({"dtype_code": code, "docs": docs}))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        read(sys.argv[2])
