"""Tiny random audio-language models with working processors, built from configs at test
time and saved as local transformers folders (no download, no pretrained weights).

Reused by the ``audio-llm`` tests, other engineers' tests and benchmarks::

    from tests.audio_llm_models import build_qwen2_audio, build_phi4_multimodal, BUILDERS
    folder = build_qwen2_audio(tmp_path / "qwen2-audio")   # ~1 s, ~0.5 MB

Each builder writes ``config.json``, ``model.safetensors``, ``generation_config.json``,
``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja`` and the processor's
configuration, and returns the folder. The tokenizer is a byte-level BPE trained on a
few clinical words (``tokenizers``): any text encodes, nothing is unknown. Weights are
random (seeded): the models produce well-formed tensors and arbitrary words, which is
what loading, prompting, windowing, zeroing and guarding need.

Families that cannot be built here, and why (transformers 5.x, this venv):
- Voxtral: its processor's tokenizer is ``MistralCommonBackend`` (a ``tekken.json`` read by
  the ``mistral-common`` package, not installed).
- Granite-Speech: ``GraniteSpeechFeatureExtractor`` computes mel features with
  ``torchaudio``, which has no CPU build matching torch 2.13 on PyPI.
- Gemma 3n: the model's vision tower is a ``TimmWrapperModel`` (needs ``timm``) and its
  processor's image processor needs ``torchvision``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

CORPUS = (
    "subjective objective assessment plan Note sections SECTION_ID title Transcript CLINICIAN PATIENT "
    "[s0] [s1] [s2] [s3] [s4] [s5] cough fever week mucus yellow breathing smoke daughter cold "
    "Start meloxicam fifteen milligrams once a day with food knee right left swelling denies no "
    "You are a clinical scribe. Listen to the visit audio and write the visit note."
)


def _tokenizer(specials: list[str], eos: str, pad: str, extra: dict[str, str], chat_template: str | None):
    """A byte-level BPE over ``CORPUS`` with ``specials`` as special tokens, wrapped as a
    transformers fast tokenizer (``extra``: named special tokens such as ``audio_token``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([CORPUS], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad, extra_special_tokens=extra)
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def build_qwen2_audio(folder: Path, *, seed: int = 0, text_positions: int = 4096) -> Path:
    """A tiny Qwen2-Audio (``Qwen2AudioForConditionalGeneration``: a 1-layer Whisper-style
    encoder of width 16 over 128 mel bins and 1500 positions, i.e. 30 s; a 1-layer Qwen2
    of width 32) with a ``Qwen2AudioProcessor`` (``WhisperFeatureExtractor`` with 128
    mel bins, the tokenizer above, the processor's default chat template, which places
    ``<|audio_bos|><|AUDIO|><|audio_eos|>`` for an audio content item)."""
    import torch
    from transformers import (
        Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor, WhisperFeatureExtractor,
    )

    tokenizer = _tokenizer(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"],
        eos="<|im_end|>", pad="<|endoftext|>",
        extra={"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"},
        chat_template=None,
    )
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer)
    config = Qwen2AudioConfig(
        audio_config={
            "model_type": "qwen2_audio_encoder", "d_model": 16, "encoder_layers": 1, "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32, "num_mel_bins": 128, "max_source_positions": 1500,
        },
        text_config={
            "model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
            "max_position_embeddings": text_positions,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
        },
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


PHI4_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
"""Phi-4-multimodal's chat template shape: string contents, the audio written as
``<|audio|>`` in the user's text (no audio content items)."""


def build_phi4_multimodal(folder: Path, *, seed: int = 0) -> Path:
    """A tiny Phi-4-multimodal (``Phi4MultimodalForCausalLM``: a 1-block conformer audio
    encoder of width 16, a 1-layer vision tower, a 1-layer decoder of width 32) with a
    ``Phi4MultimodalFeatureExtractor`` and the tokenizer above.

    Its ``processor_config.json`` names ``Phi4MultimodalProcessor`` as a real folder's does;
    that processor needs ``Phi4MultimodalImageProcessor`` (torchvision, not installed
    here), so ``AutoProcessor`` fails on this folder without torchvision, and the drafter
    falls back to the tokenizer and feature extractor, as it would on a real folder."""
    import torch
    from transformers import Phi4MultimodalConfig, Phi4MultimodalFeatureExtractor, Phi4MultimodalForCausalLM

    tokenizer = _tokenizer(
        ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|audio|>", "<|image|>"],
        eos="<|end|>", pad="<|endoftext|>", extra={"audio_token": "<|audio|>", "image_token": "<|image|>"},
        chat_template=PHI4_CHAT_TEMPLATE,
    )
    config = Phi4MultimodalConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        vision_config={
            "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "crop_size": 32, "image_size": 32, "patch_size": 16,
            "image_token_id": tokenizer.convert_tokens_to_ids("<|image|>"),
        },
        audio_config={
            "hidden_size": 16, "intermediate_size": 32, "num_blocks": 1, "num_attention_heads": 2,
            "ext_pw_out_channel": 16, "depthwise_separable_out_channel": 16, "nemo_conv_channels": 16,
            "audio_token_id": tokenizer.convert_tokens_to_ids("<|audio|>"),
        },
    )
    torch.manual_seed(seed)
    model = Phi4MultimodalForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Phi4MultimodalFeatureExtractor().save_pretrained(folder)
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": "Phi4MultimodalProcessor"}))
    return folder


def build_whisper(folder: Path) -> Path:
    """A tiny Whisper (speech-to-text, not an audio-language model): for the error of
    naming a recogniser as the note model."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500,
        max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        suppress_tokens=None, begin_suppress_tokens=None,
    )
    folder.mkdir(parents=True, exist_ok=True)
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    return folder


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "qwen2_audio": build_qwen2_audio,
    "phi4_multimodal": build_phi4_multimodal,
}
"""Every family that builds and runs on this machine, by ``config.model_type``."""
