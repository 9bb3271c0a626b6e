"""Peer for the tokenizer tests: Hugging Face `tokenizers` trains byte-level BPE tokenizers and
encodes samples with them and with tokenizers Primus trained.

Usage: hf_peer.py DIR. DIR holds corpus.txt, samples/*.bin (raw bytes, any encoding) and
primus_*.json (tokenizers trained by Primus). Writes hf_gpt2.json and hf_llama3.json (trained
here) and ids.json: {tokenizer file: {sample file: [ids]}}.

Invalid UTF-8: HF encodes Python str, which cannot hold invalid bytes. We decode each invalid
byte to U+FFFD on its own (an error handler that resumes one byte later), let HF pre-tokenize
that string (so its regex decides the piece boundaries, an invalid byte counting as a symbol
character), map each piece back to the original bytes through the character offsets, and run
HF's BPE model on the byte-level form of those bytes. For valid UTF-8 this is exactly HF's
encode(); the script checks that on every valid sample.
"""
import codecs
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def one_per_byte(err):
    return ("\ufffd", err.start + 1)


codecs.register_error("primus_each_byte", one_per_byte)


def byte_level_alphabet():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHAR = byte_level_alphabet()


def train(corpus_docs, pattern):
    tok = Tokenizer(models.BPE())
    if pattern == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_docs, trainer)
    return tok


def encode_bytes(tok, raw):
    """HF's ids for raw bytes (see the module docstring); added tokens are split out first."""
    specials = [t.content for t in tok.get_added_tokens_decoder().values()]
    ids = []
    pos = 0
    while pos <= len(raw):
        hits = [(raw.find(s.encode(), pos), s) for s in specials]
        hits = [(i, s) for i, s in hits if i >= 0]
        end = min(hits)[0] if hits else len(raw)
        ids += encode_plain(tok, raw[pos:end])
        if not hits:
            break
        s = min(hits)[1]
        ids.append(tok.token_to_id(s))
        pos = end + len(s.encode())
    return ids


def encode_plain(tok, raw):
    if not raw:
        return []
    text = raw.decode("utf-8", errors="primus_each_byte")
    # byte offset of every character of `text` in `raw`
    starts, i = [], 0
    for ch in text:
        starts.append(i)
        if ch == "\ufffd" and raw[i:i + 3] != b"\xef\xbf\xbd":
            i += 1
        else:
            i += len(ch.encode("utf-8"))
    starts.append(len(raw))
    ids = []
    for _, (b, e) in tok.pre_tokenizer.pre_tokenize_str(text):
        piece = raw[starts[b]:starts[e]]
        ids += [t.id for t in tok.model.tokenize("".join(BYTE_CHAR[x] for x in piece))]
    return ids


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "corpus.txt"), encoding="utf-8") as f:
        docs = [x for x in f.read().split("\n\n") if x.strip()]
    for pattern in ("gpt2", "llama3"):
        train(docs, pattern).save(os.path.join(d, f"hf_{pattern}.json"))
    # Llama 3 ships with ignore_merges (a whole pre-token found in the vocabulary wins) and a
    # template that prepends BOS; encode() here adds no special tokens, as Primus's encode().
    with open(os.path.join(d, "hf_llama3.json")) as f:
        j = json.load(f)
    j["model"]["ignore_merges"] = True
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [j["added_tokens"][0]["id"]],
                                                                "tokens": ["<|endoftext|>"]}}}
    with open(os.path.join(d, "hf_llama3_ignore_merges.json"), "w") as f:
        json.dump(j, f)
    sample_dir = os.path.join(d, "samples")
    samples = {}
    for name in sorted(os.listdir(sample_dir)):
        with open(os.path.join(sample_dir, name), "rb") as f:
            samples[name] = f.read()
    out = {}
    for name in sorted(os.listdir(d)):
        if not (name.startswith("hf_") or name.startswith("primus_")) or not name.endswith(".json"):
            continue
        tok = Tokenizer.from_file(os.path.join(d, name))
        per = {}
        for sname, raw in samples.items():
            ids = encode_bytes(tok, raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                full = tok.encode(text, add_special_tokens=False).ids
                if full != ids:
                    sys.exit(f"peer method disagrees with encode() on {sname} with {name}")
            per[sname] = ids
        out[name] = per
    with open(os.path.join(d, "ids.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
