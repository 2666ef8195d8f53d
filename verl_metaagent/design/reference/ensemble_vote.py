# Ensemble + vote: three solvers with different strategies answer independently; majority vote.
from verl_metaagent.design.api import *

strategies = ["forward reasoning from the given conditions",
              "working backwards from what the answer must satisfy",
              "systematic case analysis"]
solvers = [Agent(f"Solver{i + 1}", f"You are a mathematician who solves problems by {s}. "
                 "Show your reasoning and put the final answer in \\boxed{}.", sees_others=False)
           for i, s in enumerate(strategies)]
answers = [extract_answer(s.ask()) for s in solvers]
best = majority_vote(answers)
finish(best if best is not None else "")
