"""Regenerate wan22/data/tiny_spiece.model: a tiny SentencePiece model for the umT5 stand-in.

CLIPLoader(type 'wan') reads the tokenizer from the checkpoint's `spiece_model` tensor, so the
stand-in text encoder carries this one. Needs the `sentencepiece` package (ComfyUI requires it).
"""

import io
from pathlib import Path

import sentencepiece as spm

OUT = Path(__file__).resolve().parent.parent / "wan22" / "data" / "tiny_spiece.model"
TEXT = [
    "a cat walks across a sunny garden", "the camera slowly pans over the city at night",
    "a woman smiles and turns her head", "waves crash on the rocky shore",
    "low quality, blurry, static, overexposed, worst quality, jpeg artifacts",
] * 20

buf = io.BytesIO()
spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXT), model_writer=buf, vocab_size=64,
                               model_type="unigram", character_coverage=1.0, pad_id=0, eos_id=1,
                               unk_id=2, bos_id=-1, hard_vocab_limit=False,
                               normalization_rule_name="identity")
OUT.write_bytes(buf.getvalue())
print(f"{OUT.name}: {len(buf.getvalue())} bytes")
