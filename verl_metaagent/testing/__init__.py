"""Test helpers shipped with the plugin.

:mod:`verl_metaagent.testing.tiny_model` builds a tiny, hub-free Qwen3 checkpoint (tokenizer +
random weights) that loads with ``AutoTokenizer`` / ``AutoModelForCausalLM``. Importing this
package does not import torch or transformers.
"""

__all__ = ["tiny_model"]
