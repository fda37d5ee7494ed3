"""HuggingFace side of Shears' tokenizer interop tests (Tests/ShearsCLITests/TokenizerInteropTests.swift).

Nothing is downloaded: each command trains a small tokenizer with the `tokenizers` package on a
corpus made of the test's texts and a few generated sentences, writes its files into FOLDER,
and prints one JSON object on stdout with the files and the ids HuggingFace gives each text of
TEXTS (a JSON list of strings).

  wordpiece FOLDER TEXTS  train BertWordPieceTokenizer (uncased, 400 tokens), save vocab.txt;
                          report the ids of transformers.BertTokenizer(vocab.txt), of the
                          pure-Python BertTokenizerLegacy when present, and of
                          tokenizers.BertWordPieceTokenizer(vocab.txt), [CLS] and [SEP] included
  bpe FOLDER TEXTS        train ByteLevelBPETokenizer (500 tokens, <|endoftext|>) and add the
                          tokens "<mask>" (lstrip) and "東京"; save tokenizer.json, vocab.json
                          and merges.txt, and a copy of tokenizer.json with merges written as
                          "a b" strings and add_prefix_space set (prefix-space.json); report the
                          ids of tokenizers.Tokenizer.from_file for both files,
                          transformers.GPT2Tokenizer(vocab.json, merges.txt),
                          ByteLevelBPETokenizer.from_file(vocab.json, merges.txt), and
                          tokenizers' decoding of each text's ids and of its ids without the last
"""

import json
import os
import sys

# This file's name would shadow the `tokenizers` package: import it from site-packages.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

import tokenizers  # noqa: E402
import transformers  # noqa: E402
from tokenizers import AddedToken, ByteLevelBPETokenizer, BertWordPieceTokenizer, Tokenizer  # noqa: E402

transformers.logging.set_verbosity_error()


def corpus(texts):
    """The texts, then sentences that give the trainers a few hundred words to merge."""
    words = ["the", "tokenizer", "splits", "words", "into", "pieces", "résumé", "naïve", "café", "running"]
    sentences = [" ".join(words[(i * 7 + j) % len(words)] for j in range(8)) + "." for i in range(60)]
    return texts * 3 + sentences


def wordpiece(folder, texts_path):
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(corpus(texts), vocab_size=400, min_frequency=1, limit_alphabet=60)
    trainer.save_model(folder)
    vocab = os.path.join(folder, "vocab.txt")
    result = {
        "vocab": vocab,
        "transformers": [transformers.BertTokenizer(vocab)(text)["input_ids"] for text in texts],
        "tokenizers": [BertWordPieceTokenizer(vocab, lowercase=True).encode(text).ids for text in texts],
    }
    try:
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    except ImportError:
        pass  # transformers before 5 has no legacy tokenizer
    else:
        legacy = BertTokenizerLegacy(vocab)
        result["legacy"] = [legacy(text)["input_ids"] for text in texts]
    return result


def bpe(folder, texts_path):
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(corpus(texts), vocab_size=500, min_frequency=1, special_tokens=["<|endoftext|>"])
    trainer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    trainer.add_tokens(["東京"])
    tokenizer_json = os.path.join(folder, "tokenizer.json")
    trainer.save(tokenizer_json)
    vocab, merges = trainer.save_model(folder)

    with open(tokenizer_json, encoding="utf-8") as f:
        document = json.load(f)
    document["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in document["model"]["merges"]]
    document["pre_tokenizer"]["add_prefix_space"] = True
    prefix_json = os.path.join(folder, "prefix-space.json")
    with open(prefix_json, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False)

    fast = Tokenizer.from_file(tokenizer_json)
    prefixed = Tokenizer.from_file(prefix_json)
    gpt2 = transformers.GPT2Tokenizer(vocab, merges)
    plain = ByteLevelBPETokenizer.from_file(vocab, merges)
    ids = [fast.encode(text).ids for text in texts]
    return {
        "tokenizer": tokenizer_json,
        "prefix_space": prefix_json,
        "vocab": vocab,
        "merges": merges,
        "tokenizers": ids,
        "tokenizers_prefix_space": [prefixed.encode(text).ids for text in texts],
        "transformers": [gpt2(text)["input_ids"] for text in texts],
        "vocab_merges": [plain.encode(text).ids for text in texts],
        "decoded": [fast.decode(i, skip_special_tokens=False) for i in ids],
        "decoded_truncated": [fast.decode(i[:-1], skip_special_tokens=False) for i in ids],
        "vocabulary_size": fast.get_vocab_size(with_added_tokens=True),
    }


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "wordpiece":
        result = wordpiece(*args)
    elif command == "bpe":
        result = bpe(*args)
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
