"""The hub-free tiny Qwen3 model: size, loading, special tokens, chat template, caching."""

import os

from verl_metaagent.demo.tiny_model import IM_END, MARKER, build_tiny_model


def _dir_size(path):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def test_size_and_loads(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert _dir_size(tiny_model_dir) < 20 * 1024 * 1024
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (64, 2, 4, 2)
    assert (cfg.head_dim, cfg.intermediate_size, cfg.max_position_embeddings) == (16, 128, 4096)
    assert cfg.tie_word_embeddings is True
    assert cfg.vocab_size == len(tok)
    assert 1000 <= len(tok) <= 2048
    im_end = tok.convert_tokens_to_ids(IM_END)
    assert tok.eos_token == IM_END and tok.eos_token_id == im_end
    assert tok.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == im_end
    assert cfg.eos_token_id == im_end and cfg.pad_token_id == tok.pad_token_id


def test_tokenizer_roundtrip_and_specials(tiny_tokenizer):
    tok = tiny_tokenizer
    for text in ["hello world", "def f(x):\n    return x ** 2\n", "∑ unicode ✓ 日本", "2x + 3 = 11"]:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    ids = tok.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False)
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == tok.eos_token_id
    assert tok.encode("abc") == tok.encode("abc", add_special_tokens=False)  # no bos prepended


def test_chat_template(tiny_tokenizer):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+3?"},
            {"role": "assistant", "content": "5"}]
    text = tiny_tokenizer.apply_chat_template(msgs, tokenize=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n"
                    "<|im_start|>assistant\n5<|im_end|>\n")
    gen = tiny_tokenizer.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    assert gen == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n"
                   "<|im_start|>assistant\n")


def test_cache_and_determinism(tmp_path, tiny_model_dir):
    import json

    from safetensors.torch import load_file

    with open(os.path.join(tiny_model_dir, MARKER)) as f:
        marker = json.load(f)
    stamp = os.path.getmtime(os.path.join(tiny_model_dir, "model.safetensors"))
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir  # cached: nothing rewritten
    assert os.path.getmtime(os.path.join(tiny_model_dir, "model.safetensors")) == stamp
    other = build_tiny_model(tmp_path / "again")  # same params elsewhere -> identical weights
    a = load_file(os.path.join(tiny_model_dir, "model.safetensors"))
    b = load_file(os.path.join(other, "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    seeded = build_tiny_model(tmp_path / "again", seed=1)  # new params -> rebuilt in place
    with open(os.path.join(seeded, MARKER)) as f:
        assert json.load(f)["hash"] != marker["hash"]
    c = load_file(os.path.join(seeded, "model.safetensors"))
    assert not (c["model.embed_tokens.weight"] == a["model.embed_tokens.weight"]).all()
    extra = build_tiny_model(tmp_path / "corpus", corpus=["zyzzyva quokka " * 20])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(extra)
    assert len(tok.encode("zyzzyva quokka", add_special_tokens=False)) < 6
