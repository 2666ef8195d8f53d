# Self-reflection: a solver answers, a critic checks, the solver revises (at most 2 rounds).
from verl_metaagent.design.api import *

solver = Agent("Solver", "You are an expert mathematician. Reason step by step and put the final answer in \\boxed{}. "
               "If a critic finds a mistake, fix it and give the corrected answer in \\boxed{}.")
critic = Agent("Critic", "You are a strict verifier. Re-derive the key steps of the latest solution and substitute "
               "the answer back into every condition. End with 'VERDICT: CORRECT' or 'VERDICT: INCORRECT' and the reason.")

reply = solver.ask()
for _ in range(2):
    review = critic.ask("Check the latest solution.")
    if "VERDICT: CORRECT" in review.upper():
        break
    reply = solver.ask("Revise your solution using the critique.")
finish(extract_answer(reply) or reply)
