# Plan -> solve -> verify: a planner outlines, a solver executes the plan, a verifier checks.
from verl_metaagent.design.api import *

planner = Agent("Planner", "You are a planner. Outline a short numbered plan to solve the problem. Do not solve it.")
solver = Agent("Solver", "You are an expert mathematician. Carry out the plan step by step and put the final answer in \\boxed{}.")
verifier = Agent("Verifier", "You are a verifier. Check the solution against every condition of the question. "
                 "Give the (corrected if needed) final answer in \\boxed{}.")

planner.ask()
solution = solver.ask("Carry out the plan.")
check = verifier.ask("Verify the solution.")
answer = extract_answer(check) or extract_answer(solution)
finish(answer if answer is not None else solution)
