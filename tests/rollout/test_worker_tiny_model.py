"""Executor calls answered by the tiny real model through verl's worker code: rows carry its tokens."""

import asyncio

import pytest

from test_worker_scripted import DESIGN, _batch, _config


class _DesignerScriptedExecutorReal:
    """Designer prompts get a fixed two-agent design; every agent call goes to the real tiny model."""

    def __init__(self, scripted, real):
        self.scripted, self.real, self.outputs = scripted, real, []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kw):
        if "/e" not in str(request_id):  # designer requests are keyed by the design uid
            return await self.scripted.generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params)
        out = await self.real.generate(request_id, prompt_ids=prompt_ids,
                                       sampling_params=dict(sampling_params, max_tokens=8))
        self.outputs.append((list(prompt_ids), list(out.token_ids), list(out.log_probs)))
        return out


@pytest.mark.slow
def test_rows_hold_the_models_tokens_and_logprobs(tiny_model_dir):
    from transformers import AutoTokenizer

    from verl_metaagent.backends.scripted import ScriptedBackend
    from verl_metaagent.backends.transformers_backend import TransformersBackend
    from verl_metaagent.rollout.worker import HierarchicalAgentLoopWorker

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    llm = _DesignerScriptedExecutorReal(ScriptedBackend(tok, [DESIGN], cycle=True), TransformersBackend(tiny_model_dir))
    worker = HierarchicalAgentLoopWorker(_config(tiny_model_dir), llm)
    out = asyncio.run(worker.generate_sequences(_batch(["What is 2 + 3?"], ["5"])))
    ntb = out.non_tensor_batch
    executor_rows = [i for i, r in enumerate(ntb["role"]) if r == "executor"]
    assert len(executor_rows) == 4 and len(llm.outputs) == 4  # 2 designs x 2 executions x 1 call
    prompt_len = out.batch["prompts"].shape[1]
    rows = []
    for i in executor_rows:
        prompt = out.batch["prompts"][i][out.batch["attention_mask"][i, :prompt_len].bool()].tolist()
        mask = out.batch["response_mask"][i].bool()
        response = out.batch["responses"][i][mask].tolist()
        logprobs = [round(x, 5) for x in out.batch["rollout_log_probs"][i][mask].tolist()]
        rows.append((prompt, response, logprobs))
        assert "What is 2 + 3?" in tok.decode(prompt)
    generated = [(p, r, [round(x, 5) for x in lp]) for p, r, lp in llm.outputs]
    assert sorted(rows) == sorted(generated)
    # the four executions were sampled with distinct seeds
    assert len({tuple(r) for _, r, _ in generated}) > 1
